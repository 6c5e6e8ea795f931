/**
 * The market dashboard, served by the requestor node at /dashboard (bundled by api/dashboard.ts
 * with esbuild; nothing comes from the internet). Hash routes: #/ (jobs, market health,
 * providers), #/job/<id> (subtasks, attempts, verdicts and evidence, the timeline, outputs,
 * payments), #/submit (a job spec in YAML or JSON). Reads the API with the requestor's key, kept in
 * this browser's localStorage; without one it shows the market only. Refreshes every second.
 * Every call goes through the SDK's core (sdk/api.ts), its types generated from the schema.
 */
import { GolemflowApi } from '../sdk/api.js';
import type * as G from '../sdk/generated.js';
import { timelineSvg, TIMELINE_COLOURS } from './timeline.js';

const KEY = 'golemflow.apiKey';
const app = document.getElementById('app')!;
const keyOf = () => localStorage.getItem(KEY) ?? '';

const esc = (v: unknown) => String(v ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
const when = (t: string | null) => (t ? new Date(t).toLocaleTimeString() : '–');
const secondsBetween = (a: string | null, b: string | null) => (a ? (((b ? Date.parse(b) : Date.now()) - Date.parse(a)) / 1000).toFixed(1) + ' s' : '–');

/** The API of the node that served this page, as the requestor whose key this browser holds (none: the market only). */
const api = () => new GolemflowApi(location.origin, keyOf() || null);

/** A blob the key may read, as an object URL (links cannot carry the Authorization header). */
async function blobUrl(url: string, type?: string): Promise<string> {
  const res = await fetch(url, { headers: { authorization: `Bearer ${keyOf()}` } });
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
  const blob = await res.blob();
  return URL.createObjectURL(type ? new Blob([blob], { type }) : blob);
}

const badge = (status: string) => `<span class="badge ${esc(status.toLowerCase())}">${esc(status.toLowerCase())}</span>`;

function progressBar(done: number, failed: number, total: number): string {
  const pct = (n: number) => (total ? (100 * n) / total : 0).toFixed(1);
  return `<div class="progress" title="${done} of ${total} done${failed ? `, ${failed} failed` : ''}"><div class="done" style="width:${pct(done)}%"></div><div class="failed" style="width:${pct(failed)}%"></div></div><span class="count">${done}/${total}</span>`;
}

const nav = () => `
  <header>
    <a href="#/" class="brand">Golemflow</a>
    <nav><a href="#/">Market</a><a href="#/submit">Submit a job</a><a href="/graphql">GraphiQL</a><a href="/metrics">Metrics</a></nav>
    <form id="key-form" class="key">
      <input id="key" type="password" placeholder="API key (gf_…)" value="${esc(keyOf())}" autocomplete="off">
      <button type="submit">${keyOf() ? 'Change key' : 'Use key'}</button>
    </form>
  </header>`;

// ---------- views ----------

const MARKET = /* GraphQL */ `
  query DashboardMarket {
    marketHealth { healthy problems slotsOffered slotsInUse agreementsQueued }
    marketStats { onlineProviders activeAgreements }
    providers(first: 200) { nodes { id online slots reputation uptime openAgreements offer { preset pricing { start cpuSecond envSecond } } benchmark { score } earnings { paid owed refused payments } } }
  }
`;
const JOBS = /* GraphQL */ `
  query DashboardJobs {
    jobs(first: 30) { nodes { id name status subtaskCount succeededCount failedCount waiting note createdAt startedAt finishedAt } }
  }
`;

async function marketPage(): Promise<string> {
  const m = await api().request<G.DashboardMarketQuery>(MARKET);
  let jobs: G.DashboardJobsQuery['jobs']['nodes'] | null = null;
  let jobsError = '';
  if (keyOf()) {
    try {
      jobs = (await api().request<G.DashboardJobsQuery>(JOBS)).jobs.nodes;
    } catch (e) {
      jobsError = (e as Error).message;
    }
  }
  const h = m.marketHealth;
  return `
    <section class="cards">
      <div class="card ${h.healthy ? 'ok' : 'bad'}" id="health"><h3>Market health</h3><p class="big">${h.healthy ? 'healthy' : `${h.problems.length} problem${h.problems.length === 1 ? '' : 's'}`}</p>
        ${h.problems.map((p) => `<p class="problem">${esc(p)}</p>`).join('')}</div>
      <div class="card"><h3>Providers online</h3><p class="big">${m.marketStats.onlineProviders}</p></div>
      <div class="card"><h3>Slots in use</h3><p class="big">${h.slotsInUse} / ${h.slotsOffered}</p><p>${h.agreementsQueued} waiting behind busy slots</p></div>
      <div class="card"><h3>Open agreements</h3><p class="big">${m.marketStats.activeAgreements}</p></div>
    </section>
    <section>
      <h2>Jobs</h2>
      ${
        !keyOf()
          ? '<p class="hint">Enter your API key above to see your jobs (<code>.data/requestor.key</code> on the node, or <code>npm run keys -- create NAME</code>).</p>'
          : jobsError
            ? `<p class="error">${esc(jobsError)}</p>`
            : `<table id="jobs"><thead><tr><th>job</th><th>name</th><th>status</th><th>progress</th><th>submitted</th><th>took</th><th>note</th></tr></thead><tbody>
          ${(jobs ?? [])
            .map(
              (j) => `<tr data-job="${esc(j.id)}"><td><a href="#/job/${esc(j.id)}">${esc(j.id)}</a></td><td>${esc(j.name ?? '')}</td><td>${badge(j.status)}</td>
              <td>${progressBar(j.succeededCount, j.failedCount, j.subtaskCount)}</td><td>${when(j.createdAt)}</td><td>${secondsBetween(j.createdAt, j.finishedAt)}</td><td class="note">${esc(j.note ?? '')}</td></tr>`,
            )
            .join('')}</tbody></table>${jobs?.length ? '' : '<p class="hint">No jobs yet: <a href="#/submit">submit one</a>.</p>'}`
      }
    </section>
    <section>
      <h2>Providers</h2>
      <table id="providers"><thead><tr><th>provider</th><th>online</th><th>preset</th><th>GLM start / cpu-s / env-s</th><th>benchmark</th><th>reputation</th><th>uptime</th><th>slots</th><th>GLM paid / owed / refused</th></tr></thead><tbody>
      ${m.providers.nodes
        .map(
          (p) => `<tr data-provider="${esc(p.id)}"><td>${esc(p.id)}</td><td>${p.online ? '<span class="badge succeeded">online</span>' : '<span class="badge cancelled">offline</span>'}</td>
          <td>${esc(p.offer?.preset ?? '')}</td><td>${p.offer ? `${p.offer.pricing.start} / ${p.offer.pricing.cpuSecond} / ${p.offer.pricing.envSecond}` : '–'}</td>
          <td>${p.benchmark ? p.benchmark.score.toFixed(0) : '–'}</td><td>${p.reputation.toFixed(2)}</td><td>${(100 * p.uptime).toFixed(0)} %</td>
          <td>${p.openAgreements.length} / ${p.slots}</td><td>${esc(p.earnings.paid)} / ${esc(p.earnings.owed)} / ${esc(p.earnings.refused)}</td></tr>`,
        )
        .join('')}</tbody></table>
    </section>`;
}

/** The page shows a job's first SHOWN subtasks and invoices (and says so when there are more). */
const SHOWN = 500;
const JOB = /* GraphQL */ `
  query DashboardJob($id: ID!) {
    job(id: $id) {
      id name status error note paymentNote createdAt startedAt finishedAt subtaskCount succeededCount failedCount temporalUiUrl
      result { value url outputs { path size url } }
      invoices(first: 500) { nodes { subtaskIndex attempt providerId amount status txHash reason } pageInfo { hasNextPage } }
      subtasks(first: 500) {
        nodes {
          index status note votes startedAt finishedAt
          agreements { providerId state proposedAt decidedAt decisionReason }
          attempts { number copy role providerId status verdict exitCode failureType reason wallSeconds startedAt finishedAt comparisons { against same detail } }
        }
        pageInfo { hasNextPage }
      }
    }
  }
`;

/** Outputs already turned into object URLs, so a refresh does not fetch them again. */
const shown = new Map<string, string>();

async function jobPage(id: string): Promise<string> {
  if (!keyOf()) return '<p class="hint">Enter your API key above to see this job.</p>';
  const { job: found } = await api().request<G.DashboardJobQuery>(JOB, { id });
  if (!found) return `<p class="error">No job ${esc(id)} (or not yours).</p>`;
  const job = { ...found, subtasks: found.subtasks.nodes, invoices: found.invoices.nodes };
  const more = (what: string, has: boolean) => (has ? `<p class="hint">Showing the first ${SHOWN} ${what}.</p>` : '');
  const outputs = job.result?.outputs ?? [];
  const media = outputs.filter((o) => /\.(mp4|gif|png|jpe?g)$/i.test(o.path));
  return `
    <h2>${esc(job.name ?? job.id)} ${badge(job.status)}</h2>
    <p class="meta">${esc(job.id)} · submitted ${when(job.createdAt)} · ${job.finishedAt ? `took ${secondsBetween(job.createdAt, job.finishedAt)}` : `running for ${secondsBetween(job.createdAt, null)}`} · <a href="${esc(job.temporalUiUrl)}" target="_blank" rel="noopener">in the Temporal UI</a></p>
    <div id="job-progress">${progressBar(job.succeededCount, job.failedCount, job.subtaskCount)}</div>
    ${job.note ? `<p class="note">${esc(job.note)}</p>` : ''}${job.paymentNote ? `<p class="note">${esc(job.paymentNote)}</p>` : ''}
    ${job.error ? `<p class="error" id="job-error">${esc(job.error)}</p>` : ''}
    ${job.result?.value != null ? `<p>Result: <code id="job-result">${esc(job.result.value.length > 400 ? job.result.value.slice(0, 400) + '…' : job.result.value)}</code></p>` : ''}
    ${media.length ? `<div class="media">${media.map((o) => `<figure data-src="${esc(o.url)}" data-path="${esc(o.path)}"><figcaption>${esc(o.path)}</figcaption></figure>`).join('')}</div>` : ''}
    ${outputs.length ? `<p class="outputs">Outputs: ${outputs.map((o) => `<a href="#" data-download="${esc(o.url)}" data-name="${esc(o.path)}">${esc(o.path)}</a> (${o.size} B)`).join(', ')}</p>` : ''}
    <h3>Timeline</h3>
    <div class="legend">${Object.entries(TIMELINE_COLOURS).map(([k, c]) => `<span><i style="background:${c}"></i>${k}</span>`).join('')}</div>
    <div id="timeline">${timelineSvg(job, Date.now())}</div>${more('subtasks', found.subtasks.pageInfo.hasNextPage)}
    <h3>Subtasks</h3>
    <table id="subtasks"><thead><tr><th>#</th><th>status</th><th>attempts: provider, verdict, time, why</th><th>votes</th></tr></thead><tbody>
    ${job.subtasks
      .map(
        (s) => `<tr data-subtask="${s.index}"><td>${s.index}</td><td>${badge(s.status)}${s.note ? `<div class="note">${esc(s.note)}</div>` : ''}</td><td>${s.attempts
          .map(
            (a) => `<div class="attempt">#${a.number} ${a.role === 'CROP_CHECK' ? '(crop check) ' : ''}on <b>${esc(a.providerId)}</b> ${badge(a.verdict ?? a.status)} ${a.wallSeconds != null ? `${a.wallSeconds.toFixed(1)} s` : ''}
            ${a.exitCode != null ? `exit ${a.exitCode}` : ''} ${a.failureType ? `<span class="why">${esc(a.failureType.toLowerCase().replace(/_/g, ' '))}: ${esc(a.reason ?? '')}</span>` : ''}
            ${a.comparisons.map((c) => `<div class="evidence">vs #${c.against}: ${c.same ? 'same' : 'different'}: ${esc(c.detail)}</div>`).join('')}</div>`,
          )
          .join('')}</td><td>${s.votes ? esc(Object.values(s.votes).join(' : ')) : ''}</td></tr>`,
      )
      .join('')}</tbody></table>
    <h3>Payments</h3>
    ${
      job.invoices.length
        ? `<table id="payments"><thead><tr><th>subtask</th><th>attempt</th><th>provider</th><th>GLM</th><th>status</th><th>transaction</th></tr></thead><tbody>${job.invoices
            .map((i) => `<tr><td>${i.subtaskIndex}</td><td>${i.attempt}</td><td>${esc(i.providerId)}</td><td>${esc(i.amount)}</td><td>${badge(i.status)}${i.reason ? `<div class="why">${esc(i.reason)}</div>` : ''}</td><td><code>${esc(i.txHash ?? '')}</code></td></tr>`)
            .join('')}</tbody></table>`
        : '<p class="hint">No payments: the job has no budget, or nothing was accepted yet.</p>'
    }${more('invoices', found.invoices.pageInfo.hasNextPage)}`;
}

const SAMPLE = `name: primes
image: golemflow/compute:1
command: [primes, "{start}", "{end}"]
split: { kind: range, start: 0, end: 1000000, step: 100000 }
merge: { kind: sum }
`;

function submitPage(): string {
  return `
    <h2>Submit a job</h2>
    <p class="hint">A job spec in YAML or JSON (its JSON Schema: <code>query { jobSpecSchema }</code>).</p>
    <form id="submit-form"><textarea id="spec" rows="14" spellcheck="false">${esc(SAMPLE)}</textarea><br><button type="submit">Submit</button></form>
    <p id="submit-result"></p>`;
}

// ---------- the page ----------

let timer: ReturnType<typeof setTimeout> | undefined;
let rendering = 0;

async function render(): Promise<void> {
  clearTimeout(timer);
  const mine = ++rendering;
  const route = location.hash.replace(/^#/, '') || '/';
  let body: string;
  try {
    body = route.startsWith('/job/') ? await jobPage(decodeURIComponent(route.slice(5))) : route === '/submit' ? submitPage() : await marketPage();
  } catch (e) {
    body = `<p class="error">${esc((e as Error).message)}</p>`;
  }
  if (mine !== rendering) return;
  const main = document.getElementById('main');
  // The submit form keeps what was typed: it is not redrawn.
  if (route === '/submit' && main?.dataset.route === route) return;
  if (main) {
    main.innerHTML = body;
    main.dataset.route = route;
  }
  await showMedia();
  if (route !== '/submit') timer = setTimeout(() => void render(), 1000);
}

async function showMedia(): Promise<void> {
  for (const fig of document.querySelectorAll<HTMLElement>('figure[data-src]')) {
    const src = fig.dataset.src!;
    const path = fig.dataset.path!;
    try {
      if (!shown.has(src)) shown.set(src, await blobUrl(src, /\.mp4$/i.test(path) ? 'video/mp4' : undefined));
      const url = shown.get(src)!;
      const el = /\.mp4$/i.test(path) ? Object.assign(document.createElement('video'), { src: url, controls: true, muted: true, loop: true }) : Object.assign(document.createElement('img'), { src: url, alt: path });
      fig.prepend(el);
    } catch (e) {
      fig.append(` (${(e as Error).message})`);
    }
  }
}

app.innerHTML = `${nav()}<main id="main"></main>`;

document.addEventListener('submit', (ev) => {
  const form = ev.target as HTMLFormElement;
  if (form.id === 'key-form') {
    ev.preventDefault();
    const key = (document.getElementById('key') as HTMLInputElement).value.trim();
    if (key) localStorage.setItem(KEY, key);
    else localStorage.removeItem(KEY);
    app.innerHTML = `${nav()}<main id="main"></main>`;
    void render();
  }
  if (form.id === 'submit-form') {
    ev.preventDefault();
    const out = document.getElementById('submit-result')!;
    out.textContent = 'submitting…';
    api().submit((document.getElementById('spec') as HTMLTextAreaElement).value).then(
      (job) => {
        location.hash = `#/job/${job.id}`;
      },
      (e) => {
        out.className = 'error';
        out.textContent = (e as Error).message;
      },
    );
  }
});

document.addEventListener('click', (ev) => {
  const a = (ev.target as HTMLElement).closest<HTMLAnchorElement>('a[data-download]');
  if (!a) return;
  ev.preventDefault();
  void blobUrl(a.dataset.download!).then((url) => Object.assign(document.createElement('a'), { href: url, download: a.dataset.name }).click());
});

window.addEventListener('hashchange', () => void render());
void render();
