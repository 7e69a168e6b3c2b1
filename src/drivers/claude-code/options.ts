import { programAgentSchema } from '../options.js';

/** A configured agent of the claude-code driver: `command`, `args`, `env`, `description`, `check_credentials`. */
export const claudeCodeAgentSchema = programAgentSchema('claude-code');
