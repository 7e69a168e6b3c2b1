#!/usr/bin/env node
import { Command } from 'commander';
import { VERSION } from '../version.js';
import { registerConfirmCommands } from './commands/confirm.js';
import { registerHookCommand } from './commands/hook.js';
import { registerRunCommands } from './commands/runs.js';
import { registerSessionCommands } from './commands/sessions.js';
import { registerSetupCommands } from './commands/setup.js';
import { registerDaemonCommands } from './daemon.js';
import { fail } from './front.js';

const program = new Command();
program
  .name('baton')
  .description(
    'Orchestration server for coding agents: spawn, watch, answer, follow up and cancel agent runs.',
  )
  .version(VERSION, '-v, --version')
  .showHelpAfterError();

registerSetupCommands(program);
registerDaemonCommands(program, fail);
registerRunCommands(program);
registerConfirmCommands(program);
registerSessionCommands(program);
registerHookCommand(program);

await program.parseAsync(process.argv);
