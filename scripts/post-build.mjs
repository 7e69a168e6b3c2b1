// Copies non-TypeScript assets (SQL migrations, demo scenario, the dashboard) next to the compiled code and makes the CLI executable.
import { chmodSync, cpSync, existsSync } from 'node:fs';

cpSync('src/store/migrations', 'dist/store/migrations', { recursive: true });
cpSync('src/agents/scenarios', 'dist/agents/scenarios', { recursive: true });
cpSync('src/dashboard', 'dist/dashboard', { recursive: true });
if (existsSync('dist/cli/main.js')) chmodSync('dist/cli/main.js', 0o755);
