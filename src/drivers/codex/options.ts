import { programAgentSchema } from '../options.js';

/** A configured agent of the codex driver: `command`, `args`, `env`, `description`, `check_credentials`. */
export const codexAgentSchema = programAgentSchema('codex');
