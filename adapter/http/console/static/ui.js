// The operators' console (adapter/ui.py). Each page reads the same JSON API scripts use and builds
// its DOM with textContent and attributes only, never innerHTML: nothing a message carries is
// parsed as HTML. No build step, no libraries: the adapter often runs where there is no internet.
"use strict";

(() => {
  const SVG = "http://www.w3.org/2000/svg";
  const TZ = "Europe/Stockholm"; // docs/domain.md: deadlines are Stockholm time, so the console shows it
  const POLL_MS = 5000;
  const LONG_OUTAGE_MS = 15 * 60 * 1000; // an outage this long gets a banner
  const MANUAL_ROUTINE_MS = 48 * 3600 * 1000; // docs/domain.md rule 15: then the manual routine takes over
  const FINAL = new Set(["delivered", "dead-lettered", "cancelled"]);
  const KINDS = {
    slutenvard: "slutenvård (inpatient care)",
    kommun: "kommun (municipality)",
    narsjukvard: "närsjukvård (primary care)",
    "psykiatrisk-oppenvard": "psykiatrisk öppenvård (psychiatric outpatient care)",
    specialistvard: "specialistvård (specialist care)",
    "specialiserad-palliativ": "specialiserad palliativ vård (specialised palliative care)",
  };

  // ---- small helpers -------------------------------------------------------------------------

  const $ = (selector) => document.querySelector(selector);

  function build(make, tag, attrs, children) {
    const node = make(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      node.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }
  const el = (tag, attrs, ...children) => build((t) => document.createElement(t), tag, attrs, children);
  const svg = (tag, attrs, ...children) => build((t) => document.createElementNS(SVG, t), tag, attrs, children);

  const stampFormat = new Intl.DateTimeFormat("sv-SE", {
    timeZone: TZ, year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit",
  });
  const clockFormat = new Intl.DateTimeFormat("sv-SE", { timeZone: TZ, hour: "2-digit", minute: "2-digit" });
  const dayFormat = new Intl.DateTimeFormat("sv-SE", { timeZone: "UTC", weekday: "short", day: "numeric", month: "short" });

  const when = (iso) => (iso ? stampFormat.format(new Date(iso)) : "–");
  const clock = (ms) => clockFormat.format(new Date(ms));

  function span(ms) {
    const minutes = Math.max(0, Math.round(ms / 60000));
    if (minutes < 60) return `${minutes} min`;
    const hours = Math.floor(minutes / 60);
    if (hours < 48) return `${hours} h ${minutes % 60} min`;
    return `${Math.floor(hours / 24)} days ${hours % 24} h`;
  }

  const count = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;

  function badge(state) {
    return el("span", { class: `state state-${state}` }, state);
  }

  function messageLink(id, text) {
    return el("a", { href: `/ui/messages/${encodeURIComponent(id)}` }, text);
  }

  function journeyLink(key) {
    const parts = key.split(":");
    const shown = parts.length > 1 ? `${parts[0]} ${parts[parts.length - 1]}` : key;
    return el("a", { href: `/ui/episodes/${encodeURIComponent(key)}`, title: key }, shown);
  }

  function problem(response) {
    const issue = response.body && response.body.issue && response.body.issue[0];
    return issue && issue.diagnostics ? issue.diagnostics : `the adapter answered ${response.status}`;
  }

  // The session's CSRF token (adapter/http/csrf.py): every change the console asks for carries it.
  const csrfMeta = document.querySelector('meta[name="csrf-token"]');
  const CSRF = csrfMeta ? csrfMeta.content : "";

  /** The JSON API, same origin, with the session cookie (and on a change its token); a lost session goes back to the login. */
  async function api(url, options = {}) {
    const method = (options.method || "GET").toUpperCase();
    const headers = { Accept: "application/json", ...(options.headers || {}) };
    if (!["GET", "HEAD", "OPTIONS"].includes(method)) headers["X-CSRF-Token"] = CSRF;
    let response;
    try {
      response = await fetch(url, { credentials: "same-origin", ...options, headers });
    } catch (error) {
      return { ok: false, status: 0, body: { issue: [{ diagnostics: "the adapter cannot be reached" }] } };
    }
    if (response.status === 401) {
      window.location.assign(`/ui/login?next=${encodeURIComponent(location.pathname + location.search)}`);
    }
    const type = response.headers.get("content-type") || "";
    const body = type.includes("json") ? await response.json() : await response.text();
    return { ok: response.ok, status: response.status, body };
  }

  function postJson(url, body) {
    return api(url, { method: "POST", headers: { Accept: "application/json", "Content-Type": "application/json" }, body: JSON.stringify(body) });
  }

  /** Runs ``task`` every ``ms`` while ``live()`` says so (and the tab is shown); a slow answer never overlaps the next. */
  function every(ms, task, live = () => true) {
    const tick = async () => {
      if (live() && !document.hidden) await task();
      setTimeout(tick, ms);
    };
    setTimeout(tick, ms);
  }

  // ---- the relay log ---------------------------------------------------------------------------

  function logPage() {
    const form = $("#filters");
    const rows = $("#log tbody");
    const status = $("#list-status");
    const older = $("#older");
    const newest = $("#newest");
    const live = $("#live");
    let current = null; // the request of the page shown, repeated by the poll
    let following = null; // the request of the next (older) page
    let generation = 0; // a poll's late answer must not overwrite a newer search's
    let shownJson = "";

    function filters() {
      const out = {};
      for (const name of ["state", "type", "sender", "recipient", "key", "id"]) {
        const value = form.elements[name].value.trim();
        if (value) out[name] = value;
      }
      for (const name of ["since", "until"]) {
        const value = form.elements[name].value; // local time in the browser's zone
        if (value) out[name] = new Date(value).toISOString();
      }
      return out;
    }

    function firstPage() {
      const chosen = filters();
      const patient = $("#f-patient").value.replace(/[\s-]/g, "");
      if (patient) return { method: "POST", url: "/messages/search", body: { ...chosen, patient } };
      return { method: "GET", url: `/messages?${new URLSearchParams(chosen)}` };
    }

    async function fetchPage(request) {
      return request.method === "POST" ? postJson(request.url, request.body) : api(request.url);
    }

    /** Shows the page ``request`` gives; ``fresh`` for an operator's search or paging, not a poll. */
    async function show(request, fresh = false) {
      if (fresh) {
        generation += 1;
        current = request;
        shownJson = "";
      }
      const mine = generation;
      const response = await fetchPage(request);
      if (mine !== generation) return;
      if (!response.ok) {
        status.textContent = `Could not read the relay log: ${problem(response)}`;
        return;
      }
      const page = response.body;
      if (page.next) following = { method: "GET", url: page.next };
      else if (request.method === "POST" && page.last !== null && page.items.length >= (request.body.limit || 50)) {
        following = { method: "POST", url: request.url, body: { ...request.body, before: page.last } };
      } else following = null;
      older.disabled = following === null;
      newest.disabled = current.method === "GET" ? !/[?&]before=/.test(current.url) : current.body.before === undefined;
      const json = JSON.stringify(page.items);
      if (json !== shownJson) {
        shownJson = json;
        rows.replaceChildren(...page.items.map(row));
        if (!page.items.length) rows.append(el("tr", {}, el("td", { colspan: 7 }, "No messages match.")));
      }
      status.textContent = `${count(page.items.length, "message")}, updated ${clock(Date.now())}`;
    }

    function row(m) {
      const who = el("td", {}, m.patientName || "(no name)", el("br"), journeyLink(m.key));
      const error = (m.lastError || "").length > 140 ? `${m.lastError.slice(0, 140)}…` : m.lastError || "";
      return el(
        "tr",
        { "data-state": m.state },
        el("td", {}, when(m.acceptedAt)),
        el("td", {}, messageLink(m.messageId, m.type), el("br"), el("code", { class: "id", title: m.messageId }, m.messageId.slice(0, 8))),
        el("td", {}, badge(m.state)),
        who,
        el("td", { class: "hsa" }, el("span", {}, m.sender || "?"), ...(m.recipients || []).map((r) => el("span", {}, `→ ${r}`))),
        el("td", { class: "num" }, m.attempts),
        el("td", { class: "error", title: m.lastError || null }, error),
      );
    }

    form.addEventListener("submit", (event) => {
      event.preventDefault();
      // The address keeps the filters (a link to the view), never the patient's number.
      const shown = new URLSearchParams();
      for (const name of ["state", "type", "sender", "recipient", "key", "id", "since", "until"]) {
        const value = form.elements[name].value.trim();
        if (value) shown.set(name, value);
      }
      history.replaceState(null, "", shown.toString() ? `/ui?${shown}` : "/ui");
      show(firstPage(), true);
    });
    older.addEventListener("click", () => following && show(following, true));
    newest.addEventListener("click", () => show(firstPage(), true));

    show(firstPage(), true);
    every(POLL_MS, () => current && show(current), () => live.checked);
    stats();
    every(POLL_MS, stats, () => live.checked);
  }

  // ---- what is waiting, and the charts (GET /stats) --------------------------------------------

  async function stats() {
    const response = await api("/stats?minutes=60");
    if (!response.ok) {
      $("#waiting").textContent =
        response.status === 404 ? "This adapter does not report what is waiting (no GET /stats)." : `Could not read /stats: ${problem(response)}`;
      return;
    }
    const s = response.body;
    const waiting = s.waiting || {};
    const now = Date.now();
    const oldest = waiting.oldestAcceptedAt ? Date.parse(waiting.oldestAcceptedAt) : null;
    $("#waiting").textContent = waiting.count
      ? `${count(waiting.count, "message")} waiting to be relayed; the oldest was accepted ${when(waiting.oldestAcceptedAt)}, ${span(now - oldest)} ago.`
      : "Nothing is waiting: every accepted message is delivered or given up on.";

    const chips = Object.entries(waiting.byState || {}).filter(([, n]) => n > 0);
    $("#by-state").replaceChildren(
      ...chips.map(([state, n]) => el("li", {}, el("a", { href: `/ui?state=${encodeURIComponent(state)}` }, badge(state), ` ${n}`))),
    );

    const held = s.held || [];
    const heldLine = $("#held");
    heldLine.hidden = !held.length;
    heldLine.replaceChildren("Held behind a dead letter: ", ...held.flatMap((key, i) => (i ? [", ", journeyLink(key)] : [journeyLink(key)])));

    const fhir = s.fhir || {};
    const since = fhir.since ? Date.parse(fhir.since) : null;
    const fhirLine = $("#fhir");
    fhirLine.className = fhir.reachable === false ? "bad" : "";
    if (fhir.reachable === true) fhirLine.textContent = `The FHIR server answers${since ? ` (since ${when(fhir.since)})` : ""}.`;
    else if (fhir.reachable === false) {
      fhirLine.textContent = `The FHIR server has not answered${since ? ` since ${when(fhir.since)}` : ""}${fhir.error ? `: ${fhir.error}` : ""}.`;
    } else fhirLine.textContent = "The FHIR server has not been looked at yet.";
    outage(fhir, since ?? oldest, waiting, now);
    charts(s.buckets || []);
  }

  /** A banner once the FHIR server has been down a while ("start" is when, if known). */
  function outage(fhir, start, waiting, now) {
    const banner = $("#outage");
    const down = start === null ? null : now - start;
    if (fhir.reachable !== false || (down !== null && down < LONG_OUTAGE_MS)) {
      banner.hidden = true;
      return;
    }
    const critical = down !== null && down >= MANUAL_ROUTINE_MS;
    banner.className = `banner ${critical ? "critical" : "warning"}`;
    const queued = waiting.count
      ? `${count(waiting.count, "message")} waiting, the oldest since ${when(waiting.oldestAcceptedAt)}.`
      : "Nothing is waiting yet.";
    banner.replaceChildren(
      el("strong", {}, critical ? "Over 48 hours without the FHIR server: the manual routine applies. " : "The FHIR server is down. "),
      down === null ? "It does not answer. " : `It has not answered for ${span(down)}, since ${when(new Date(start).toISOString())}. `,
      `${queued} Every message is kept and relayed when the server is back.`,
    );
    banner.hidden = false;
  }

  function charts(buckets) {
    const delivered = buckets.map((b) => b.delivered || 0);
    const failed = buckets.map((b) => b.failed || 0);
    const total = (xs) => xs.reduce((a, b) => a + b, 0);
    const times = buckets.map((b) => Date.parse(b.start));
    bars($("#chart-delivered"), delivered, "bar", times);
    bars($("#chart-failed"), failed, "bar bad", times);
    lines($("#chart-latency"), [buckets.map((b) => b.p50Ms), buckets.map((b) => b.p95Ms)], ["line", "line p95"], times);
    $("#chart-delivered-sum").textContent = `${total(delivered)} delivered, at most ${Math.max(0, ...delivered)} in a minute.`;
    $("#chart-failed-sum").textContent = `${count(total(failed), "failed attempt")}, at most ${Math.max(0, ...failed)} in a minute.`;
    const p95 = buckets.map((b) => b.p95Ms).filter((v) => v !== null && v !== undefined);
    $("#chart-latency-sum").textContent = p95.length ? `Highest p95 ${Math.round(Math.max(...p95))} ms in a minute.` : "No attempts.";
  }

  const CHART = { w: 300, h: 90, top: 12, bottom: 16 };

  function frame(node, max, times) {
    const base = CHART.h - CHART.bottom;
    node.replaceChildren(
      svg("line", { class: "axis", x1: 0, y1: base, x2: CHART.w, y2: base }),
      svg("text", { class: "tick", x: 0, y: 9 }, `max ${Math.round(max)}`),
    );
    if (times.length) {
      node.append(
        svg("text", { class: "tick", x: 0, y: CHART.h - 3 }, clock(times[0])),
        svg("text", { class: "tick", x: CHART.w, y: CHART.h - 3, "text-anchor": "end" }, clock(times[times.length - 1])),
      );
    }
  }

  function bars(node, values, cls, times) {
    const max = Math.max(1, ...values);
    frame(node, max, times);
    const width = CHART.w / Math.max(1, values.length);
    const plot = CHART.h - CHART.top - CHART.bottom;
    values.forEach((v, i) => {
      if (!v) return;
      const height = Math.max(1, (v / max) * plot);
      node.append(
        svg("rect", { class: cls, x: i * width, y: CHART.h - CHART.bottom - height, width: Math.max(1, width - 1), height },
          svg("title", {}, `${clock(times[i])}: ${v}`)),
      );
    });
  }

  function lines(node, series, classes, times) {
    const all = series.flat().filter((v) => v !== null && v !== undefined);
    const max = Math.max(1, ...all);
    frame(node, max, times);
    const n = Math.max(1, series[0].length);
    const x = (i) => (i + 0.5) * (CHART.w / n);
    const y = (v) => CHART.h - CHART.bottom - (v / max) * (CHART.h - CHART.top - CHART.bottom);
    series.forEach((values, s) => {
      let run = [];
      const flush = () => {
        if (run.length === 1) node.append(svg("circle", { class: classes[s], cx: run[0][0], cy: run[0][1], r: 1.5 }));
        else if (run.length) node.append(svg("polyline", { class: classes[s], points: run.map((p) => p.join(",")).join(" ") }));
        run = [];
      };
      values.forEach((v, i) => (v === null || v === undefined ? flush() : run.push([x(i).toFixed(1), y(v).toFixed(1)])));
      flush();
    });
  }

  // ---- one message -----------------------------------------------------------------------------

  function messagePage() {
    const id = document.body.dataset.messageId;
    const canAct = document.body.dataset.canAct === "true";
    const status = $("#status");
    const documentBox = $("#document");
    const revealButton = $("#reveal");
    const replayButton = $("#replay");
    const cancelButton = $("#cancel");
    const url = `/messages/${encodeURIComponent(id)}`;
    let revealed = false;
    let masked = "";
    let state = null;

    async function load() {
      const response = await api(url);
      if (!response.ok) {
        status.textContent = `Could not read the message: ${problem(response)}`;
        return;
      }
      const m = response.body;
      state = m.state;
      summary(m);
      const links = m.serverLinks || [];
      $("#server-ids").replaceChildren(
        ...(links.length
          ? links.map((link, i) => el("li", {}, el("a", { href: link, rel: "noreferrer" }, (m.serverIds || [])[i] || link)))
          : [el("li", {}, "Nothing yet.")]),
      );
      $("#bundle").replaceChildren(
        m.bundle ? el("a", { href: m.bundle }, "The transaction Bundle it was mapped to (identity numbers masked)") : "The Bundle was pruned.",
      );
      $("#attempts tbody").replaceChildren(
        ...((m.attemptLog || []).length ? m.attemptLog.map(attempt) : [el("tr", {}, el("td", { colspan: 6 }, "No attempt yet."))]),
      );
      masked = m.document === null || m.document === undefined ? "(pruned after the retention time)" : m.document;
      if (!revealed) documentBox.textContent = masked;
      if (canAct) {
        // The journal says what its state allows (adapter/journal/states.py); the page never decides.
        const actions = m.actions || [];
        replayButton.disabled = !actions.includes("replay");
        cancelButton.disabled = !actions.includes("cancel");
      }
    }

    function summary(m) {
      const rows = [
        ["Type", m.type],
        ["State", badge(m.state)],
        ["Attempts", String(m.attempts)],
        ["Accepted", when(m.acceptedAt)],
        ["Last change", when(m.updatedAt)],
        ["Patient", m.patientName || "(no name)"],
        ["Journey", journeyLink(m.key)],
        ["Sender", m.sender || "?"],
        ["Recipients", (m.recipients || []).join(", ")],
        ["Last error", m.lastError || "–"],
        ["Correlation id", m.correlationId || "–"],
      ];
      if (m.prunedAt) rows.push(["Body pruned", when(m.prunedAt)]);
      $("#summary").replaceChildren(...rows.flatMap(([term, value]) => [el("dt", {}, term), el("dd", {}, value)]));
    }

    function attempt(a) {
      return el(
        "tr",
        {},
        el("td", { class: "num" }, a.n),
        el("td", {}, when(a.at)),
        el("td", { class: "num" }, a.status === null ? "no answer" : a.status),
        el("td", { class: "num" }, `${a.latencyMs} ms`),
        el("td", { class: "error" }, a.error || ""),
        el("td", {}, outcome(a.outcome)),
      );
    }

    function outcome(o) {
      if (!o) return "";
      if (o.resourceType === "OperationOutcome" && Array.isArray(o.issue)) {
        return el("ul", { class: "issues" }, ...o.issue.map((i) => {
          const where = [...(i.expression || []), ...(i.location || [])].join(", ");
          return el("li", {}, `${i.severity || "?"} ${i.code || ""}: ${i.diagnostics || (i.details && i.details.text) || ""}${where ? ` (${where})` : ""}`);
        }));
      }
      return el("details", {}, el("summary", {}, "answer"), el("pre", {}, JSON.stringify(o, null, 2)));
    }

    async function act(action, done) {
      replayButton.disabled = cancelButton.disabled = true;
      status.textContent = `${action}…`;
      const response = await api(`${url}/${action}`, { method: "POST" });
      status.textContent = response.ok ? done : `Not done: ${problem(response)}`;
      await load();
    }

    if (canAct) {
      replayButton.addEventListener("click", () => act("replay", "Replayed: the message is queued again."));
      cancelButton.addEventListener("click", () => {
        if (window.confirm("Give up on this message? The later messages of its key go on without it.")) {
          act("cancel", "Cancelled: the later messages of its key go on.");
        }
      });
    }
    if (revealButton) {
      revealButton.addEventListener("click", async () => {
        if (revealed) {
          revealed = false;
          documentBox.textContent = masked;
          revealButton.textContent = "Reveal";
          $("#document-note").textContent = "Identity numbers are masked.";
          return;
        }
        const response = await api(`${url}/document?reveal=true`);
        if (!response.ok) {
          status.textContent = `Not revealed: ${problem(response)}`;
          return;
        }
        revealed = true;
        documentBox.textContent = typeof response.body === "string" ? response.body : JSON.stringify(response.body, null, 2);
        revealButton.textContent = "Mask again";
        $("#document-note").textContent = "Revealed, identity numbers unmasked: this reveal is in the audit log under your name.";
      });
    }

    load();
    every(2000, load, () => state !== null && !FINAL.has(state));
  }

  // ---- the audit log ---------------------------------------------------------------------------

  function auditRow(e) {
    return el("tr", {}, el("td", {}, when(e.at)), el("td", {}, e.actor), el("td", {}, e.action),
      el("td", {}, e.messageId ? messageLink(e.messageId, e.messageId) : "–"), el("td", {}, e.detail || ""));
  }

  /** An auditor's extract of one patient's access log (loggutdrag), asked for by number in a POST body. */
  function patientExtract(form) {
    const status = $("#extract-status");
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const number = $("#x-patient");
      const patient = number.value.replace(/[\s-]/g, "");
      number.value = ""; // not kept in the page once asked for
      status.textContent = "Reading the patient's access log…";
      const response = await postJson("/audit/patient", { patient });
      if (!response.ok) {
        status.textContent = `Could not read the access log: ${problem(response)}`;
        return;
      }
      $("#extract-log tbody").replaceChildren(...response.body.map(auditRow));
      $("#extract-result").hidden = false;
      const n = response.body.length;
      status.textContent = `${n} ${n === 1 ? "entry" : "entries"} of this patient, newest first; this extract is logged too.`;
    });
  }

  async function auditPage() {
    const form = $("#extract");
    if (form) patientExtract(form);
    const response = await api("/audit?limit=500");
    if (!response.ok) {
      $("#status").textContent = `Could not read the audit log: ${problem(response)}`;
      return;
    }
    $("#audit tbody").replaceChildren(...response.body.map(auditRow));
    $("#status").textContent = response.body.length ? `${response.body.length} entries, newest first.` : "Nothing audited yet.";
  }

  // ---- the invoice basis (fakturaunderlag) -------------------------------------------------------

  const kr = (n) => `${n.toLocaleString("sv-SE")} kr`;

  async function invoicePage() {
    const kommun = $("#i-kommun").value;
    const month = $("#i-month").value;
    if (!kommun || !month) return;
    const status = $("#status");
    const mark = $("#mark-invoiced");
    const query = `kommun=${encodeURIComponent(kommun)}&month=${encodeURIComponent(month)}`;
    const show = (basis) => {
      const t = basis.total;
      $("#invoice-state").textContent = basis.invoiced
        ? `Fakturerad ${when(basis.invoiced.markedAt)} av ${basis.invoiced.markedBy}: underlaget ändras inte längre (invoiced; frozen).`
        : "Öppen: underlaget räknas om tills månaden markeras som fakturerad (open).";
      // An unpriced day is never shown as 0 kr: the priced sum and the unpriced part apart.
      $("#invoice-total").textContent = `Summa ${kr(t.amount)} för ${t.pricedDays} dagar`
        + (t.unpricedDays ? `; ${t.unpricedDays} dagar i ${t.unpricedRows} ${t.unpricedRows === 1 ? "rad" : "rader"} saknar dagbelopp (unpriced)` : "");
      $("#invoice-lines tbody").replaceChildren(...basis.lines.map((x) => el("tr", {},
        el("td", {}, journeyLink(`episode:${x.episode}`)), el("td", { class: "num" }, x.days),
        el("td", { class: "num" }, x.pricedDays ? kr(x.amount) : "–"), el("td", { class: "num" }, x.unpricedDays),
        el("td", {}, x.note || ""))));
      $("#invoice-corrections tbody").replaceChildren(...basis.corrections.map((c) => el("tr", {},
        el("td", {}, journeyLink(`episode:${c.episode}`)), el("td", {}, c.corrects), el("td", { class: "num" }, c.days),
        el("td", { class: "num" }, kr(c.amount)),
        el("td", {}, c.messageId ? messageLink(c.messageId, `${c.messageType} ${c.messageId}`) : "inget enskilt meddelande (no single message)"))));
      $("#invoice-result").hidden = false;
      if (mark) mark.hidden = Boolean(basis.invoiced);
    };
    status.textContent = "Läser underlaget… (reading)";
    const response = await api(`/reports/invoice?${query}`);
    if (!response.ok) {
      status.textContent = `Kunde inte läsa underlaget (could not read): ${problem(response)}`;
      return;
    }
    status.textContent = "";
    show(response.body);
    if (mark) {
      mark.addEventListener("click", async () => {
        const answer = await api(`/reports/invoice/${encodeURIComponent(kommun)}/${encodeURIComponent(month)}/invoiced`, { method: "POST" });
        if (!answer.ok) {
          status.textContent = `Inte markerad (not marked): ${problem(answer)}`;
          return;
        }
        status.textContent = "Markerad som fakturerad; åtgärden finns i granskningsloggen (audited).";
        show(answer.body);
      });
    }
  }

  // ---- a journey's timeline --------------------------------------------------------------------

  const LANES = [
    { title: "Slutenvård", gloss: "inpatient care", kinds: ["slutenvard"] },
    { title: "Kommun", gloss: "municipality", kinds: ["kommun"] },
    { title: "Närsjukvård", gloss: "primary care, psykiatrisk öppenvård", kinds: ["narsjukvard", "psykiatrisk-oppenvard"] },
    { title: "Specialiserad vård", gloss: "specialist, palliative care", kinds: ["specialistvard", "specialiserad-palliativ"], optional: true },
  ];
  const DAY = 86400000;
  const offsetFormat = new Intl.DateTimeFormat("en-US", { timeZone: TZ, timeZoneName: "longOffset" });

  /** Milliseconds of Stockholm's offset from UTC at ``ms``. */
  function offsetAt(ms) {
    const name = offsetFormat.formatToParts(new Date(ms)).find((p) => p.type === "timeZoneName").value; // "GMT+01:00"
    const match = /GMT([+-])(\d\d):(\d\d)/.exec(name);
    return match ? (match[1] === "-" ? -1 : 1) * (Number(match[2]) * 60 + Number(match[3])) * 60000 : 0;
  }

  /** Midnight in Stockholm that begins the day ``iso`` (YYYY-MM-DD). */
  function midnight(iso) {
    const [y, m, d] = iso.split("-").map(Number);
    const utc = Date.UTC(y, m - 1, d);
    return utc - offsetAt(utc - offsetAt(utc));
  }

  /** The Stockholm date (YYYY-MM-DD) of ``ms``. */
  function dayOf(ms) {
    return new Date(ms + offsetAt(ms)).toISOString().slice(0, 10);
  }

  function episodePage() {
    const key = document.body.dataset.key;
    const status = $("#status");
    let shownJson = "";

    async function load() {
      const response = await api(`/episodes/${encodeURIComponent(key)}/timeline`);
      if (!response.ok) {
        status.textContent = `Could not read the journey: ${problem(response)}`;
        return;
      }
      const json = JSON.stringify(response.body);
      if (json !== shownJson) {
        shownJson = json;
        render(response.body);
      }
      status.textContent = `${count(response.body.messages.length, "message")}, updated ${clock(Date.now())}`;
    }

    async function patient() {
      const response = await api(`/messages?${new URLSearchParams({ key, limit: 1 })}`);
      const first = response.ok && response.body.items[0];
      if (first && first.patientName) $("#patient").textContent = `Patient: ${first.patientName}`;
    }

    load();
    patient();
    every(POLL_MS, load);
  }

  function laneOf(kind, lanes) {
    const i = lanes.findIndex((lane) => lane.kinds.includes(kind));
    return i < 0 ? lanes.length - 1 : i;
  }

  function render(t) {
    const messages = t.messages || [];
    const byId = new Map(messages.map((m, i) => [m.messageId, { m, n: i + 1 }]));
    const party = (m, hsaId) => (m.recipients || []).find((r) => r.hsaId === hsaId) || { hsaId, kind: "", name: hsaId };
    const name = (p) => (p.name ? `${p.name}` : p.hsaId);

    // Tables first: they carry everything the drawing shows.
    $("#messages tbody").replaceChildren(
      ...messages.map((m, i) =>
        el("tr", {}, el("td", { class: "num" }, i + 1), el("td", {}, when(m.sent)), el("td", {}, messageLink(m.messageId, m.type)),
          el("td", {}, name(m.sender), el("br"), el("small", {}, KINDS[m.sender.kind] || m.sender.kind)),
          el("td", {}, (m.recipients || []).map(name).join("; ")), el("td", {}, badge(m.state))),
      ),
    );
    $("#acks tbody").replaceChildren(
      ...(t.acknowledgements || []).map((a) => {
        const of = byId.get(a.messageId);
        return el("tr", {}, el("td", {}, of ? `${of.n} ${of.m.type}` : a.messageId), el("td", {}, of ? name(party(of.m, a.from)) : a.from),
          el("td", {}, when(a.due)), el("td", {}, when(a.received)), el("td", {}, el("span", { class: `ack-${a.status}` }, a.status)));
      }),
    );
    const findings = t.findings || [];
    $("#findings").replaceChildren(
      ...(findings.length
        ? findings.map((f) => el("li", { class: `finding-${f.severity}` }, el("strong", {}, `${f.rule} (${f.severity}${f.cleared ? ", cleared" : ""})`),
            `: ${f.detail}`, f.due ? `; due ${when(f.due)}` : ""))
        : [el("li", {}, "None.")]),
    );
    const payment = t.payment || [];
    $("#payment-section").hidden = !("payment" in t);
    $("#payment tbody").replaceChildren(
      ...payment.map((p) => el("tr", {}, el("td", {}, p.notified), el("td", {}, p.start), el("td", {}, p.end || "running"),
        el("td", {}, p.stoppedBy || "–"), el("td", { class: "num" }, p.days),
        // A day of a year without a daily amount is shown unpriced, never as 0 SEK.
        el("td", { class: "num" }, p.unpricedDays ? `${p.amount} + ${p.unpricedDays} days unpriced` : p.amount))),
    );
    $("#suspensions").replaceChildren(
      ...((t.suspensions || []).length
        ? t.suspensions.map((s) => el("li", {}, `${s.from} to ${s.to || "until further notice"}: ${s.reason}`))
        : [el("li", {}, "None.")]),
    );
    draw(t, byId, party);
  }

  function draw(t, byId, party) {
    const messages = t.messages || [];
    const used = new Set(messages.flatMap((m) => [m.sender.kind, ...(m.recipients || []).map((r) => r.kind)]));
    const lanes = LANES.filter((lane) => !lane.optional || lane.kinds.some((k) => used.has(k)));
    const payment = t.payment || [];
    const findings = t.findings || [];

    // The time span: every instant and day the journey names, in whole Stockholm days.
    const moments = [
      ...messages.map((m) => Date.parse(m.sent)),
      ...(t.acknowledgements || []).flatMap((a) => [a.due, a.received].filter(Boolean).map(Date.parse)),
      ...findings.map((f) => Date.parse(f.raised)),
      ...payment.flatMap((p) => [p.notified, p.start, p.end].filter(Boolean).map(midnight)),
      ...(t.suspensions || []).flatMap((s) => [s.from, s.to].filter(Boolean).map(midnight)),
    ].filter((x) => !Number.isNaN(x));
    if (!moments.length) return;
    const start = midnight(dayOf(Math.min(...moments)));
    const end = midnight(dayOf(Math.max(...moments))) + DAY + 6 * 3600000; // DST days are 23 or 25 h
    const days = [];
    for (let d = start; d < end - DAY / 2; d = midnight(dayOf(d + DAY + 3600000))) days.push(d);
    const stop = midnight(dayOf(days[days.length - 1] + DAY + 3600000));

    const gutter = 200;
    const axis = 36;
    const laneHeight = 96;
    const findingsHeight = findings.length ? 30 : 0;
    const payHeight = "payment" in t ? 46 : 0;
    const perDay = Math.max(150, (1100 - gutter) / days.length);
    const width = gutter + days.length * perDay + 20;
    const lanesBottom = axis + lanes.length * laneHeight;
    const height = lanesBottom + findingsHeight + payHeight + 10;
    const x = (ms) => gutter + ((ms - start) / (stop - start)) * days.length * perDay;
    const laneTop = (i) => axis + i * laneHeight;

    const root = $("#timeline");
    root.setAttribute("width", width);
    root.setAttribute("height", height);
    root.setAttribute("viewBox", `0 0 ${width} ${height}`);
    root.replaceChildren(
      svg("defs", {},
        svg("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" },
          svg("path", { class: "arrowhead", d: "M0,0 L10,5 L0,10 z" })),
        svg("pattern", { id: "hatch", width: 6, height: 6, patternUnits: "userSpaceOnUse", patternTransform: "rotate(45)" },
          svg("line", { class: "hatch", x1: 0, y1: 0, x2: 0, y2: 6 }))),
    );

    lanes.forEach((lane, i) => {
      root.append(
        svg("rect", { class: `lane lane-${i % 2}`, x: 0, y: laneTop(i), width, height: laneHeight }),
        svg("text", { class: "lane-title", x: 10, y: laneTop(i) + 24 }, lane.title),
        svg("text", { class: "lane-gloss", x: 10, y: laneTop(i) + 42 }, `(${lane.gloss})`),
      );
    });

    // Days, weekends shaded (acknowledgements are due on weekdays).
    days.forEach((d, i) => {
      const next = i + 1 < days.length ? days[i + 1] : stop;
      const iso = dayOf(d);
      const weekday = new Date(`${iso}T00:00:00Z`).getUTCDay();
      if (weekday === 0 || weekday === 6) {
        root.append(svg("rect", { class: "weekend", x: x(d), y: axis, width: x(next) - x(d), height: height - axis - 10 }));
      }
      root.append(
        svg("line", { class: "dayline", x1: x(d), y1: axis - 6, x2: x(d), y2: height - 10 }),
        svg("text", { class: "day", x: x(d) + 4, y: axis - 12 }, dayFormat.format(new Date(`${iso}T00:00:00Z`))),
      );
    });

    // Messages: a numbered mark in the sender's lane, stacked when close; arrows to the recipients' lanes.
    const rows = lanes.map(() => []);
    const marks = new Map();
    messages.forEach((m, i) => {
      const lane = laneOf(m.sender.kind, lanes);
      const cx = x(Date.parse(m.sent));
      let row = rows[lane].findIndex((last) => cx - last >= 26);
      if (row < 0) row = rows[lane].length < 3 ? rows[lane].length : rows[lane].indexOf(Math.min(...rows[lane]));
      rows[lane][row] = cx;
      const cy = laneTop(lane) + 20 + row * 26;
      marks.set(m.messageId, { cx, cy, lane });
      const targets = [...new Set((m.recipients || []).map((r) => laneOf(r.kind, lanes)))].filter((l) => l !== lane);
      for (const target of targets) {
        const down = target > lane;
        root.append(svg("line", {
          class: "arrow", x1: cx, y1: cy + (down ? 10 : -10), x2: cx, y2: down ? laneTop(target) + 4 : laneTop(target) + laneHeight - 4,
          "marker-end": "url(#arrow)",
        }));
      }
      const to = (m.recipients || []).map((r) => r.name || r.hsaId).join(", ");
      root.append(svg("g", { class: `msg msg-${m.state}`, "data-message-id": m.messageId },
        svg("title", {}, `${i + 1}. ${m.type}, ${when(m.sent)}, ${m.sender.name || m.sender.hsaId} → ${to} (${m.state})`),
        svg("circle", { cx, cy, r: 10 }),
        svg("text", { x: cx, y: cy + 4, "text-anchor": "middle" }, i + 1)));
    });

    // Acknowledgements: in the recipient's lane, a line from the message to its kvittens or its due time.
    for (const a of t.acknowledgements || []) {
      const of = byId.get(a.messageId);
      const mark = marks.get(a.messageId);
      if (!of || !mark || !a.due) continue;
      const who = party(of.m, a.from);
      const lane = laneOf(who.kind, lanes);
      const y = laneTop(lane) + laneHeight - 8 - (of.n % 4) * 5; // staggered: several wait at once
      const due = x(Date.parse(a.due));
      const end = a.received ? x(Date.parse(a.received)) : due;
      const title = svg("title", {}, `Kvittens of ${of.n}. ${of.m.type} from ${who.name || who.hsaId}: due ${when(a.due)}, ${a.status}${a.received ? ` ${when(a.received)}` : ""}`);
      root.append(svg("g", { class: `ackmark ack-${a.status}` }, title,
        svg("line", { class: "ack-line", x1: mark.cx, y1: y, x2: end, y2: y }),
        svg("line", { class: "due", x1: due, y1: y - 6, x2: due, y2: y + 6 }),
        a.received
          ? svg("circle", { class: "got", cx: end, cy: y, r: 3.5 })
          : svg("path", { class: "cross", d: `M${due - 4},${y - 4} L${due + 4},${y + 4} M${due - 4},${y + 4} L${due + 4},${y - 4}` })));
    }

    // Findings of the rules, at the time each was raised.
    if (findings.length) {
      const y = lanesBottom;
      root.append(svg("text", { class: "lane-title", x: 10, y: y + 20 }, "Findings"));
      for (const f of findings) {
        const fx = x(Date.parse(f.raised));
        root.append(svg("path", { class: `finding finding-${f.severity}`, d: `M${fx},${y + 6} l7,14 h-14 z` },
          svg("title", {}, `${f.rule}: ${f.detail}`)));
      }
    }

    // The payment clock: each period from its first payable day; suspended days hatched.
    if ("payment" in t) {
      const y = lanesBottom + findingsHeight;
      root.append(
        svg("text", { class: "lane-title", x: 10, y: y + 20 }, "Betalningsansvar"),
        svg("text", { class: "lane-gloss", x: 10, y: y + 36 }, "(payment responsibility)"),
      );
      for (const p of payment) {
        const from = x(midnight(p.start));
        const to = p.end ? x(midnight(p.end)) : x(stop);
        root.append(svg("g", { class: `pay${p.end ? "" : " running"}` },
          svg("title", {}, `Notified ${p.notified}; payable from ${p.start} to ${p.end || "now"}: ${p.days} days${p.stoppedBy ? `, stopped by ${p.stoppedBy}` : ""}`),
          svg("line", { class: "notified", x1: x(midnight(p.notified)), y1: y + 8, x2: x(midnight(p.notified)), y2: y + 38 }),
          svg("rect", { x: from, y: y + 10, width: Math.max(2, to - from), height: 26 }),
          svg("text", { x: from + 4, y: y + 28 }, `${p.days} d${p.end ? "" : " →"}`)));
      }
      for (const s of t.suspensions || []) {
        const from = x(midnight(s.from));
        const to = s.to ? x(midnight(dayOf(midnight(s.to) + DAY + 3600000))) : x(stop);
        root.append(svg("rect", { class: "suspended", x: from, y: y + 10, width: Math.max(2, to - from), height: 26, fill: "url(#hatch)" },
          svg("title", {}, `Outpatient services not available ${s.from} to ${s.to || "until further notice"}: ${s.reason}`)));
      }
    }

    const now = Date.parse(t.at);
    if (now > start && now < stop) {
      root.append(svg("line", { class: "now", x1: x(now), y1: axis - 6, x2: x(now), y2: height - 10 }),
        svg("text", { class: "now-label", x: x(now) + 3, y: height - 12 }, "now"));
    }
  }

  // ---- the login page: nothing to fetch ----------------------------------------------------------

  const pages = { log: logPage, message: messagePage, episode: episodePage, audit: auditPage, invoice: invoicePage };
  const page = pages[document.body.dataset.page];
  if (page) page();
})();
