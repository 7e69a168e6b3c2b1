// baton's dashboard: runs list, run page, new-run form. No framework, no external assets; it talks
// to /api with the login cookie and sends the session's CSRF token on every change. Everything an
// agent wrote is inserted as text, never as HTML.

const STATUSES = [
  'queued',
  'starting',
  'running',
  'waiting',
  'completed',
  'failed',
  'cancelled',
  'timed_out',
  'interrupted',
];
const FINAL = new Set(['completed', 'failed', 'cancelled', 'timed_out', 'interrupted']);
const EVENT_TYPES = [
  'status',
  'message',
  'thought',
  'tool_call',
  'tool_update',
  'plan',
  'permission_request',
  'permission_resolved',
  'input_request',
  'usage',
  'stderr',
  'terminal',
  'result',
  'error',
  'warning',
  'raw',
  'confirmation',
];

const main = document.getElementById('main');
const live = document.getElementById('live');
let csrf = '';
/** Cleanup of the current view (closes its event streams). */
let leave = () => {};

/** Creates an element: `h('a', { href: '#/' }, 'text', child)`. Strings become text nodes. */
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** Calls /api; throws ApiError with the server's code and message. */
async function api(path, { method = 'GET', body } = {}) {
  const headers = { accept: 'application/json' };
  if (method !== 'GET') {
    headers['content-type'] = 'application/json';
    headers['x-csrf-token'] = csrf;
  }
  const res = await fetch(`/api${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: 'same-origin',
  });
  const data = await res.json().catch(() => ({}));
  if (!res.ok) {
    const e = data.error ?? {};
    throw new ApiError(res.status, e.code ?? 'HTTP_' + res.status, e.message ?? res.statusText);
  }
  return data;
}

function ago(iso) {
  if (!iso) return '';
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86400)}d ago`;
}

function usageText(u) {
  if (!u) return '';
  const parts = [];
  const tokens = u.total_tokens ?? (u.input_tokens ?? 0) + (u.output_tokens ?? 0);
  if (tokens) parts.push(`${tokens.toLocaleString()} tok`);
  if (u.cost_usd) parts.push(`$${u.cost_usd.toFixed(u.cost_usd < 1 ? 4 : 2)}`);
  return parts.join(' · ');
}

function badge(status) {
  return h('span', { class: `badge s-${status}`, 'data-status': status }, status.replace('_', ' '));
}

function showError(where, err) {
  where.replaceChildren(
    h('p', { class: 'error', role: 'alert' }, err.code ? `${err.code}: ${err.message}` : String(err)),
  );
}

// ------------------------------------------------------------------------------------- login

function loginView() {
  const reason = new URLSearchParams(location.hash.replace(/^#/, '')).get('login');
  const why = {
    expired: 'That login link was already used or has expired.',
    wrong: 'That token is not right.',
    throttled: 'Too many failed logins; wait a minute.',
  }[reason];
  main.replaceChildren(
    h(
      'section',
      { class: 'card narrow' },
      h('h1', {}, 'Log in'),
      h(
        'p',
        {},
        'Open the one-time link that ',
        h('code', {}, 'baton serve'),
        ' printed, or paste the token (',
        h('code', {}, 'BATON_TOKEN'),
        ' or ',
        h('code', {}, '$BATON_HOME/token'),
        ').',
      ),
      why && h('p', { class: 'error', role: 'alert' }, why),
      h(
        'form',
        { method: 'post', action: '/login', class: 'stack' },
        h(
          'label',
          {},
          'Token',
          h('input', { type: 'password', name: 'token', required: true, autocomplete: 'current-password' }),
        ),
        h('button', { class: 'primary', type: 'submit' }, 'Log in'),
      ),
    ),
  );
}

// ------------------------------------------------------------------------------------- runs list

/**
 * The card of a pending confirmation (request_confirmation): the question, its details, and one big
 * button per answer. `done` gets the answered confirmation.
 */
function confirmationCard(c, done) {
  const status = h('div', { class: 'confirm-status' });
  const buttons = c.options.map((o) =>
    h(
      'button',
      {
        type: 'button',
        class: `option ${o === 'deny' ? 'reject' : o === 'approve' ? 'allow' : ''}`,
        'data-decision': o,
        onclick: async (e) => {
          const b = e.currentTarget;
          b.disabled = true;
          try {
            done(
              await api(`/confirmations/${encodeURIComponent(c.confirmation_id)}/answer`, {
                method: 'POST',
                body: { decision: o },
              }),
            );
          } catch (err) {
            showError(status, err);
          } finally {
            b.disabled = false;
          }
        },
      },
      o === 'approve' ? 'Approve' : o === 'deny' ? 'Deny' : o,
    ),
  );
  return h(
    'div',
    {
      class: 'card permission confirmation',
      role: 'group',
      'aria-label': 'Confirmation',
      'data-confirmation': c.confirmation_id,
    },
    h('h2', {}, 'Please confirm'),
    h('p', { class: 'title' }, c.question),
    c.details ? h('p', { class: 'details' }, c.details) : null,
    h(
      'p',
      { class: 'muted' },
      `asked ${ago(c.created_at)}${c.run_id ? ` by run ${c.run_id}` : ''}${c.deadline ? ` · expires ${c.deadline}` : ''}`,
    ),
    h('div', { class: 'options' }, buttons),
    status,
  );
}

/**
 * Pending confirmations (of one run when `runId` is given), kept live from /api/events; `box`
 * shows them (empty when none). Returns the function to call with each changed confirmation.
 */
function confirmationsBox(box, runId) {
  const pending = new Map();
  const render = () =>
    box.replaceChildren(
      ...[...pending.values()]
        .sort((a, b) => a.created_at.localeCompare(b.created_at))
        .map((c) => confirmationCard(c, (answered) => update(answered))),
    );
  const update = (c) => {
    if (runId && c.run_id !== runId) return;
    if (c.status === 'pending') pending.set(c.confirmation_id, c);
    else pending.delete(c.confirmation_id);
    render();
  };
  api('/confirmations?status=pending&limit=200')
    .then((page) => {
      for (const c of page.confirmations) if (!runId || c.run_id === runId) pending.set(c.confirmation_id, c);
      render();
    })
    .catch((err) => showError(box, err));
  return update;
}

/** What wake did, one line per target that failed (a run waiting on a permission is not idle). */
function wakeSummary(results) {
  if (results.length === 0) return h('p', { class: 'muted' }, 'No idle sessions.');
  const ok = results.filter((r) => r.ok).length;
  return h(
    'div',
    { class: 'wake-summary' },
    h('p', {}, `Woke ${ok} of ${results.length}.`),
    results
      .filter((r) => !r.ok)
      .map((r) => h('p', { class: 'error' }, `${r.run_id}: ${r.error?.code}: ${r.error?.message}`)),
  );
}

/** Wakes one run: typed into its program, or a follow-up on its session (then its page). */
async function wakeOne(runId) {
  const { results } = await api('/wake', { method: 'POST', body: { runs: [runId] } });
  const r = results[0];
  if (!r?.ok) throw r?.error ?? new Error('wake failed');
  if (r.new_run_id) location.hash = `#/runs/${r.new_run_id}`;
}

function runsView() {
  const params = new URLSearchParams(location.hash.split('?')[1] ?? '');
  const filter = params.get('status') ?? '';
  const runs = new Map();
  const list = h('div', { class: 'runs', id: 'runs' });
  const select = h(
    'select',
    {
      'aria-label': 'Filter by status',
      id: 'status-filter',
      onchange: (e) => (location.hash = e.target.value ? `#/?status=${e.target.value}` : '#/'),
    },
    h('option', { value: '' }, 'All statuses'),
    STATUSES.map((s) => h('option', { value: s, selected: s === filter }, s.replace('_', ' '))),
  );
  const asks = h('div', { class: 'confirmations', id: 'confirmations' });
  const woke = h('div', { id: 'wake-result', 'aria-live': 'polite' });
  const wakeAll = h(
    'button',
    {
      type: 'button',
      id: 'wake-all',
      title: 'Send the wake text to every run waiting for input and every finished session',
      onclick: async (e) => {
        const button = e.currentTarget;
        button.disabled = true;
        try {
          const { results } = await api('/wake', { method: 'POST', body: { all: true } });
          woke.replaceChildren(wakeSummary(results));
        } catch (err) {
          showError(woke, err);
        } finally {
          button.disabled = false;
        }
      },
    },
    'Wake idle',
  );
  main.replaceChildren(
    h(
      'section',
      {},
      asks,
      h('div', { class: 'bar' }, h('h1', {}, 'Runs'), h('div', { class: 'row' }, wakeAll, select)),
      woke,
      list,
    ),
  );
  const confirmationChanged = confirmationsBox(asks);

  const render = () => {
    const all = [...runs.values()].filter((r) => !filter || r.status === filter);
    // Runs waiting for an answer first, then active ones, then newest first.
    const rank = (r) => (r.status === 'waiting' ? 0 : FINAL.has(r.status) ? 2 : 1);
    all.sort((a, b) => rank(a) - rank(b) || b.created_at.localeCompare(a.created_at));
    if (all.length === 0) {
      list.replaceChildren(
        h('p', { class: 'muted' }, filter ? `No ${filter} runs.` : 'No runs yet. Start one with New run.'),
      );
      return;
    }
    list.replaceChildren(
      ...all.map((r) =>
        h(
          'a',
          {
            class: `run-row${r.status === 'waiting' ? ' attention' : ''}`,
            href: `#/runs/${r.run_id}`,
            'data-run': r.run_id,
          },
          badge(r.status),
          h('span', { class: 'name' }, r.label ?? r.run_id),
          h('span', { class: 'agent' }, r.agent),
          r.role && h('span', { class: 'role' }, r.role),
          h('span', { class: 'cwd', title: r.cwd }, r.cwd),
          h('span', { class: 'age', title: r.created_at }, ago(r.created_at)),
          h('span', { class: 'usage' }, usageText(r.result?.usage)),
          r.status === 'waiting' &&
            r.waiting_for &&
            h('span', { class: 'asks' }, `asks: ${r.waiting_for.title}`),
        ),
      ),
    );
  };

  api(`/runs?limit=100${filter ? `&status=${filter}` : ''}`)
    .then((page) => {
      for (const r of page.runs) runs.set(r.run_id, r);
      render();
    })
    .catch((err) => showError(list, err));

  const stream = new EventSource('/api/events');
  stream.addEventListener('open', () => live.classList.add('on'));
  stream.addEventListener('error', () => live.classList.remove('on'));
  stream.addEventListener('run', (e) => {
    const r = JSON.parse(e.data);
    runs.set(r.run_id, r);
    render();
  });
  stream.addEventListener('confirmation', (e) => confirmationChanged(JSON.parse(e.data)));
  const tick = setInterval(render, 30_000);
  return () => {
    stream.close();
    clearInterval(tick);
    live.classList.remove('on');
  };
}

// ------------------------------------------------------------------------------------- run page

function pre(value) {
  return h('pre', {}, typeof value === 'string' ? value : JSON.stringify(value, null, 2));
}

function diffView(c) {
  const lines = [];
  for (const l of (c.old_text ?? '').split('\n'))
    if (c.old_text) lines.push(h('span', { class: 'del' }, `- ${l}\n`));
  for (const l of (c.new_text ?? '').split('\n')) lines.push(h('span', { class: 'add' }, `+ ${l}\n`));
  return h('div', { class: 'diff' }, h('div', { class: 'path' }, c.path), h('pre', {}, lines));
}

function toolContent(content) {
  return (content ?? []).map((c) =>
    c.type === 'diff' ? diffView(c) : c.type === 'text' ? pre(c.text) : pre(c),
  );
}

/** Renders a run's events into `log`, merging message pieces and tool updates into their call. */
function eventRenderer(log) {
  const tools = new Map();
  let lastText;
  let screen;
  return (e) => {
    const d = e.data ?? {};
    if ((e.type === 'message' || e.type === 'thought') && d.continued && lastText?.type === e.type) {
      lastText.el.append(d.text ?? '');
      return;
    }
    lastText = undefined;
    let el;
    switch (e.type) {
      case 'message': {
        const body = h('div', { class: 'text' }, d.text ?? '');
        el = h('div', { class: `msg ${d.role === 'user' ? 'user' : 'agent'}` }, body);
        lastText = { type: 'message', el: body };
        break;
      }
      case 'thought': {
        const body = h('div', { class: 'text' }, d.text ?? '');
        el = h('details', { class: 'thought' }, h('summary', {}, 'Thought'), body);
        lastText = { type: 'thought', el: body };
        break;
      }
      case 'tool_call': {
        const status = h('span', { class: 'tool-status' }, d.status ?? '');
        const body = h('div', { class: 'tool-body' });
        if (d.raw_input !== undefined) body.append(h('div', { class: 'label' }, 'Input'), pre(d.raw_input));
        body.append(...toolContent(d.content));
        el = h(
          'details',
          { class: 'tool', open: Boolean(d.content?.some((c) => c.type === 'diff')) },
          h(
            'summary',
            {},
            h('span', { class: 'kind' }, d.kind ?? 'tool'),
            ' ',
            d.title ?? d.tool_call_id ?? '',
            ' ',
            status,
          ),
          body,
        );
        tools.set(d.tool_call_id, { status, body });
        break;
      }
      case 'tool_update': {
        const t = tools.get(d.tool_call_id);
        if (t) {
          if (d.status) t.status.textContent = d.status;
          if (d.raw_output !== undefined)
            t.body.append(h('div', { class: 'label' }, 'Result'), pre(d.raw_output));
          t.body.append(...toolContent(d.content));
          return;
        }
        el = h('div', { class: 'event muted' }, `tool ${d.title ?? d.tool_call_id ?? ''} ${d.status ?? ''}`);
        break;
      }
      case 'plan':
        el = h(
          'div',
          { class: 'plan' },
          h('div', { class: 'label' }, 'Plan'),
          h(
            'ol',
            {},
            (d.entries ?? []).map((p) => h('li', { class: `plan-${p.status}` }, p.content)),
          ),
        );
        break;
      case 'permission_request':
        el = h('div', { class: 'event ask' }, `Asked: ${d.title ?? ''}`);
        break;
      case 'permission_resolved':
        el = h(
          'div',
          { class: 'event muted' },
          `Answered ${d.option_id ?? d.outcome ?? ''}${d.by ? ` by ${d.by}` : ''}`,
        );
        break;
      case 'status':
        el = h('div', { class: 'event muted' }, `→ ${d.status ?? ''}${d.reason ? ` (${d.reason})` : ''}`);
        break;
      case 'error':
        el = h('div', { class: 'event error' }, `${d.code ?? 'error'}: ${d.message ?? ''}`);
        break;
      case 'warning':
        el = h('div', { class: 'event ask' }, `warning: ${d.message ?? d.kind ?? ''}`);
        break;
      case 'confirmation':
        el = h(
          'div',
          { class: 'event ask', 'data-confirmation-event': d.confirmation_id },
          d.status === 'pending'
            ? `asked a person: ${d.question ?? ''} (${(d.options ?? []).join(' / ')})`
            : `confirmation ${d.confirmation_id}: ${d.status}${d.decision ? ` ${d.decision}` : ''}${d.by ? ` by ${d.by}` : ''}`,
        );
        break;
      case 'stderr':
        el = h('details', { class: 'stderr' }, h('summary', {}, 'stderr'), pre(d.text ?? ''));
        break;
      case 'terminal':
        if (d.kind === 'screen') {
          // One live screen, updated in place.
          if (!screen) {
            screen = h('pre', { class: 'screen', id: 'screen' });
            log.prepend(h('div', { class: 'label' }, 'Screen'), screen);
          }
          screen.textContent = d.screen ?? '';
          return;
        }
        el = h('div', { class: 'event muted' }, `typed: ${d.input ?? ''}`);
        break;
      case 'usage':
      case 'raw':
      case 'result':
        return;
      default:
        el = h('details', { class: 'event' }, h('summary', {}, e.type), pre(d));
    }
    log.append(el);
  };
}

function runView(id) {
  const head = h('div', { class: 'run-head' });
  const pending = h('div', { id: 'pending' });
  const log = h('div', { class: 'log', id: 'log' });
  const footer = h('div', { class: 'run-foot' });
  const asks = h('div', { class: 'confirmations', id: 'confirmations' });
  main.replaceChildren(h('section', {}, head, asks, pending, log, footer));
  const confirmationChanged = confirmationsBox(asks, id);
  const render = eventRenderer(log);
  let summary;
  let stickToBottom = true;
  const onScroll = () => (stickToBottom = innerHeight + scrollY >= document.body.scrollHeight - 80);
  addEventListener('scroll', onScroll);

  const act = async (button, fn) => {
    button.disabled = true;
    try {
      await fn();
    } catch (err) {
      showError(pending, err);
    } finally {
      button.disabled = false;
    }
  };

  const drawSummary = (r) => {
    summary = r;
    head.replaceChildren(
      h('div', { class: 'bar' }, h('h1', {}, r.label ?? r.run_id), badge(r.status)),
      h(
        'dl',
        { class: 'facts' },
        h('dt', {}, 'agent'),
        h('dd', {}, r.agent),
        r.role && h('dt', {}, 'role'),
        r.role && h('dd', { class: 'role' }, r.role),
        h('dt', {}, 'cwd'),
        h('dd', {}, r.cwd),
        h('dt', {}, 'policy'),
        h('dd', {}, r.policy + (r.approver ? ` · approver ${r.approver}` : '')),
        h('dt', {}, 'started'),
        h('dd', { title: r.created_at }, ago(r.created_at)),
        r.result?.usage && h('dt', {}, 'usage'),
        r.result?.usage && h('dd', {}, usageText(r.result.usage)),
      ),
      r.error ? h('p', { class: 'error' }, `${r.error.code}: ${r.error.message}`) : '',
    );
    const w = r.status === 'waiting' ? r.waiting_for : undefined;
    if (!w) pending.replaceChildren();
    else if (w.kind === 'input') {
      const keys = ['Enter', 'C-c', 'C-d', 'Escape'].map((k) =>
        h(
          'button',
          {
            type: 'button',
            'data-key': k,
            onclick: (e) =>
              act(e.currentTarget, async () =>
                drawSummary(await api(`/runs/${r.run_id}/keys`, { method: 'POST', body: { keys: [k] } })),
              ),
          },
          k,
        ),
      );
      keys.push(
        h(
          'button',
          {
            type: 'button',
            class: 'wake',
            title: 'Type the wake text, then Enter',
            onclick: (e) => act(e.currentTarget, () => wakeOne(r.run_id)),
          },
          'Wake',
        ),
      );
      pending.replaceChildren(
        h(
          'div',
          { class: 'card permission', role: 'group', 'aria-label': 'Waiting for input' },
          h('h2', {}, 'Waiting for input'),
          h('p', { class: 'title' }, w.prompt ?? ''),
          h('p', { class: 'muted' }, 'Type below (sent with Enter), or send a key:'),
          h('div', { class: 'options' }, keys),
        ),
      );
    } else {
      const tc = w.tool_call ?? {};
      pending.replaceChildren(
        h(
          'div',
          { class: 'card permission', role: 'group', 'aria-label': 'Permission request' },
          h('h2', {}, 'Permission needed'),
          h('p', { class: 'title' }, w.title),
          tc.locations?.length ? h('p', { class: 'muted' }, tc.locations.join(', ')) : null,
          tc.raw_input !== undefined ? pre(tc.raw_input) : null,
          r.approver === 'caller'
            ? h('p', { class: 'muted' }, 'Only the MCP caller may answer this run.')
            : null,
          h(
            'div',
            { class: 'options' },
            w.options.map((o) =>
              h(
                'button',
                {
                  class: `option ${o.kind.startsWith('allow') ? 'allow' : 'reject'}`,
                  'data-option': o.option_id,
                  disabled: r.approver === 'caller',
                  onclick: (e) =>
                    act(e.currentTarget, async () =>
                      drawSummary(
                        await api(`/runs/${r.run_id}/answer`, {
                          method: 'POST',
                          body: { option_id: o.option_id, request_id: w.request_id },
                        }),
                      ),
                    ),
                },
                o.name,
              ),
            ),
          ),
        ),
      );
    }
    const final = FINAL.has(r.status);
    const message = h('textarea', {
      name: 'message',
      rows: 3,
      placeholder: 'Follow-up message',
      required: true,
    });
    footer.replaceChildren(
      h(
        'form',
        {
          class: 'stack follow-up',
          onsubmit: (e) => {
            e.preventDefault();
            act(e.submitter ?? e.target, async () => {
              const next = await api(`/runs/${r.run_id}/follow-up`, {
                method: 'POST',
                body: { message: message.value },
              });
              location.hash = `#/runs/${next.run_id}`;
            });
          },
        },
        h(
          'label',
          {},
          final
            ? 'Continue the conversation'
            : r.waiting_for?.kind === 'input'
              ? 'Type into the program'
              : 'Queue a follow-up',
          message,
        ),
        h(
          'div',
          { class: 'row' },
          h('button', { class: 'primary', type: 'submit' }, 'Send follow-up'),
          (r.status === 'completed' || r.status === 'interrupted') &&
            h(
              'button',
              {
                type: 'button',
                class: 'wake',
                title: 'Continue the session with the wake text',
                onclick: (e) => act(e.currentTarget, () => wakeOne(r.run_id)),
              },
              'Wake',
            ),
          !final &&
            h(
              'button',
              {
                type: 'button',
                class: 'danger',
                id: 'cancel',
                onclick: (e) =>
                  act(e.currentTarget, async () =>
                    drawSummary(await api(`/runs/${r.run_id}/cancel`, { method: 'POST', body: {} })),
                  ),
              },
              'Cancel run',
            ),
        ),
      ),
    );
  };

  api(`/runs/${encodeURIComponent(id)}`)
    .then(drawSummary)
    .catch((err) => showError(head, err));

  const events = new EventSource(`/api/runs/${encodeURIComponent(id)}/events`);
  for (const type of EVENT_TYPES) {
    events.addEventListener(type, (e) => {
      // 'error' is also the stream's own connection error (no data).
      if (typeof e.data !== 'string') return;
      render(JSON.parse(e.data));
      if (stickToBottom) scrollTo(0, document.body.scrollHeight);
    });
  }
  // A finished run's stream ends: do not reconnect and replay it.
  events.addEventListener('error', () => {
    if (summary && FINAL.has(summary.status)) events.close();
  });
  const runs = new EventSource('/api/events');
  runs.addEventListener('open', () => live.classList.add('on'));
  runs.addEventListener('error', () => live.classList.remove('on'));
  runs.addEventListener('run', (e) => {
    const r = JSON.parse(e.data);
    if (r.run_id === summary?.run_id) drawSummary(r);
  });
  runs.addEventListener('confirmation', (e) => confirmationChanged(JSON.parse(e.data)));
  return () => {
    events.close();
    runs.close();
    removeEventListener('scroll', onScroll);
    live.classList.remove('on');
  };
}

// ------------------------------------------------------------------------------------- new run

function newRunView() {
  const out = h('div');
  const agent = h('select', { name: 'agent', required: true, id: 'agent' });
  const cwd = h('input', {
    name: 'cwd',
    required: true,
    id: 'cwd',
    placeholder: '/absolute/path',
    autocapitalize: 'off',
  });
  const prompt = h('textarea', { name: 'prompt', rows: 6, required: true, id: 'prompt' });
  const policy = h(
    'select',
    { name: 'policy', id: 'policy' },
    [
      ['ask', 'ask: every tool call needs an answer'],
      ['auto_edit', 'auto_edit: edits in cwd allowed, the rest asks'],
      ['allow_all', 'allow_all: everything allowed'],
      ['deny_all', 'deny_all: read-only'],
    ].map(([v, t]) => h('option', { value: v }, t)),
  );
  const approver = h(
    'select',
    { name: 'approver', id: 'approver' },
    [
      ['any', 'anyone'],
      ['human', 'a person only (dashboard, CLI, elicitation)'],
      ['caller', 'the MCP caller only'],
    ].map(([v, t]) => h('option', { value: v }, t)),
  );
  const timeout = h('input', {
    name: 'timeout',
    id: 'timeout',
    placeholder: 'e.g. 30m (default from config)',
  });
  const label = h('input', {
    name: 'label',
    id: 'label',
    placeholder: 'optional unique name',
    autocapitalize: 'off',
  });
  const readiness = h('p', { class: 'muted', id: 'readiness' });
  const submit = h('button', { class: 'primary', type: 'submit' }, 'Start run');
  let agents = [];
  const showReadiness = () => {
    const a = agents.find((x) => x.name === agent.value);
    if (!a) return readiness.replaceChildren();
    readiness.replaceChildren(
      a.ready
        ? h(
            'span',
            { class: 'ok' },
            `ready${a.version ? ` · ${a.version}` : ''}${a.credentials ? ` · ${a.credentials}` : ''}`,
          )
        : h('span', { class: 'error' }, `not ready: ${a.problem ?? ''}${a.fix ? ` Fix: ${a.fix}` : ''}`),
    );
  };
  agent.addEventListener('change', showReadiness);
  main.replaceChildren(
    h(
      'section',
      { class: 'card' },
      h('h1', {}, 'New run'),
      h(
        'form',
        {
          class: 'stack',
          id: 'new-run',
          onsubmit: async (e) => {
            e.preventDefault();
            submit.disabled = true;
            try {
              const body = {
                agent: agent.value,
                cwd: cwd.value.trim(),
                prompt: prompt.value,
                policy: policy.value,
              };
              if (approver.value !== 'any') body.approver = approver.value;
              if (timeout.value.trim()) body.timeout = timeout.value.trim();
              if (label.value.trim()) body.label = label.value.trim();
              const run = await api('/runs', { method: 'POST', body });
              location.hash = `#/runs/${run.run_id}`;
            } catch (err) {
              showError(out, err);
            } finally {
              submit.disabled = false;
            }
          },
        },
        h('label', {}, 'Agent', agent),
        readiness,
        h('label', {}, 'Working directory', cwd),
        h('label', {}, 'Prompt', prompt),
        h(
          'div',
          { class: 'grid2' },
          h('label', {}, 'Policy', policy),
          h('label', {}, 'Who answers prompts', approver),
        ),
        h('div', { class: 'grid2' }, h('label', {}, 'Timeout', timeout), h('label', {}, 'Label', label)),
        out,
        submit,
      ),
    ),
  );
  Promise.all([api('/agents'), api('/status')])
    .then(([a, status]) => {
      agents = a.agents;
      agent.replaceChildren(
        ...agents.map((x) =>
          h('option', { value: x.name, disabled: !x.ready }, `${x.name}${x.ready ? '' : ' (not ready)'}`),
        ),
      );
      const first = agents.find((x) => x.ready);
      if (first) agent.value = first.name;
      if (!cwd.value && status.roots?.length) cwd.value = status.roots[0];
      showReadiness();
    })
    .catch((err) => showError(out, err));
  return () => {};
}

// ------------------------------------------------------------------------------------- routing

async function route() {
  leave();
  leave = () => {};
  const hash = location.hash.replace(/^#/, '');
  for (const a of document.querySelectorAll('[data-nav]'))
    a.classList.toggle('current', a.dataset.nav === (hash.startsWith('/new') ? 'new' : 'runs'));
  if (!csrf) {
    try {
      const s = await api('/session');
      csrf = s.csrf_token ?? '';
    } catch (err) {
      if (err.status === 401) return loginView();
      return showError(main, err);
    }
  }
  const run = /^\/runs\/([^/?]+)/.exec(hash);
  if (run) leave = runView(decodeURIComponent(run[1]));
  else if (hash.startsWith('/new')) leave = newRunView();
  else leave = runsView();
}

addEventListener('hashchange', route);
route();
