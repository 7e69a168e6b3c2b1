import type { Db } from './db.js';

/** A stored session: the agent-side conversation that runs continue. */
export type SessionRow = {
  id: string;
  agent: string;
  cwd: string;
  agent_session_id: string | null;
  created_at: string;
  updated_at: string;
};

/** The `sessions` table. */
export class SessionTable {
  readonly #insert;
  readonly #get;
  readonly #setAgentSession;
  readonly #byAgentSession;

  constructor(db: Db) {
    this.#insert = db.prepare(
      'INSERT INTO sessions (id, agent, cwd, agent_session_id, created_at, updated_at) VALUES (@id, @agent, @cwd, @agent_session_id, @created_at, @updated_at)',
    );
    this.#get = db.prepare('SELECT * FROM sessions WHERE id = ?');
    // A session whose runs all failed (a wrong cwd, an unknown id) never continued it.
    this.#byAgentSession = db.prepare(
      `SELECT * FROM sessions s WHERE agent = ? AND agent_session_id = ?
         AND EXISTS (SELECT 1 FROM runs r WHERE r.session_id = s.id AND r.status != 'failed')
       ORDER BY created_at LIMIT 1`,
    );
    this.#setAgentSession = db.prepare(
      'UPDATE sessions SET agent_session_id = ?, updated_at = ? WHERE id = ?',
    );
  }

  /** Inserts a new session row. */
  insert(row: SessionRow): void {
    this.#insert.run(row);
  }

  /** The session, or undefined. */
  get(id: string): SessionRow | undefined {
    return this.#get.get(id) as SessionRow | undefined;
  }

  /**
   * The oldest session of `agent` that continues the agent's own session `agentSessionId` (one of
   * its runs did not fail), if any.
   */
  findByAgentSession(agent: string, agentSessionId: string): SessionRow | undefined {
    return this.#byAgentSession.get(agent, agentSessionId) as SessionRow | undefined;
  }

  /** Records the agent's own id for the session once the agent has created it. */
  setAgentSessionId(id: string, agentSessionId: string): void {
    this.#setAgentSession.run(agentSessionId, new Date().toISOString(), id);
  }
}
