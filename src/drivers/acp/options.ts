import { programAgentSchema } from '../options.js';

/** A configured agent of the acp driver: `command`, `args`, `env`, `description`, `check_credentials`. */
export const acpAgentSchema = programAgentSchema('acp');
