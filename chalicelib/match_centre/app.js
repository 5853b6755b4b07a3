// The match centre: the directory, one match's score, timeline, statistics and pitch, kept live by the
// WebSocket API (subscribe, apply change and stats messages, dedupe by cursor, catch up from the change feed
// after a reconnect), and by polling with If-None-Match while the socket is down. No build step, no library.
"use strict";

const LABELS = {goal: "Goal", own_goal: "Own goal", yellow_card: "Yellow card", red_card: "Red card",
                substitution: "Substitution", kick_off: "Kick-off", half_time: "Half-time", full_time: "Full-time",
                lineup: "Lineup", formation_change: "Formation"};
// Timeline symbols drawn as SVG, so they show on any machine (an emoji needs a font that has it).
const SYMBOLS = {
  goal: '<circle cx="8" cy="8" r="6.5" fill="#fff" stroke="#17202a"/><path d="M8 4.5l3 2.2-1.1 3.6H6.1L5 6.7z" fill="#17202a"/>',
  own_goal: '<circle cx="8" cy="8" r="6.5" fill="#fff" stroke="#c62828"/><path d="M8 4.5l3 2.2-1.1 3.6H6.1L5 6.7z" fill="#c62828"/>',
  yellow_card: '<rect x="4" y="2" width="8" height="12" rx="1" fill="#f9d71c" stroke="#8a6d00"/>',
  red_card: '<rect x="4" y="2" width="8" height="12" rx="1" fill="#d32f2f" stroke="#7f0000"/>',
  substitution: '<path d="M2 5h9l-3-3M14 11H5l3 3" fill="none" stroke="#2e7d32" stroke-width="1.6"/>',
};
const PERIODS = [["", "Match"], ["1", "1st half"], ["2", "2nd half"], ["3", "Extra time 1"], ["4", "Extra time 2"],
                 ["5", "Penalties"]];
const STATUS = {pre_match: "pre-match", live: "live", half_time: "half-time", finished: "finished"};
const TEAM_ROWS = [["goals", "Goals"], ["xg", "xG"], ["shots", "Shots"], ["shots_on_target", "On target"],
                   ["possession", "Possession %"], ["passes", "Passes"], ["pass_accuracy", "Pass accuracy %"], ["fouls", "Fouls"], ["yellow_cards", "Yellow cards"],
                   ["red_cards", "Red cards"], ["corners", "Corners"]];
const POLL_MS = 2000;
const TIMELINE_EVENTS = 300;  // the timeline shows the latest this many
const DIRECTORY_MS = 10000;  // the list is refreshed at most this often, with If-None-Match, pushes or not
const PING_MS = 5 * 60 * 1000;  // API Gateway closes a connection idle for 10 minutes
const MAX_CONNECTION_MS = 2 * 60 * 60 * 1000;  // ... and any connection after 2 hours

const state = {config: null, matchId: null, events: new Map(), stats: null, cursor: null, socket: null,
               socketUp: false, etags: new Map(), pollTimer: null, retry: 0, queue: Promise.resolve(),
               directoryAt: 0, period: "", periodStats: null};
const $ = (id) => document.getElementById(id);
const api = (path) => new URL(path, new URL(".", location.href));  // the API serves the page: same base

async function getJson(path) {
  // GET with If-None-Match: null when unchanged (304)
  const headers = {};
  if (state.etags.has(path)) headers["If-None-Match"] = state.etags.get(path).etag;
  const response = await fetch(api(path), {headers, cache: "no-store"});  // our own If-None-Match
  if (response.status === 304) return null;
  if (!response.ok) throw new Error(`${path}: ${response.status}`);
  const body = await response.json();
  state.etags.set(path, {etag: response.headers.get("ETag")});
  return body;
}

function setConnection(text) { $("connection").textContent = text; }

// -- the directory ----------------------------------------------------------------------------------------

async function refreshMatches() {
  // at most one directory read every DIRECTORY_MS: a crowd's refreshes must not multiply with its pushes
  if (Date.now() - state.directoryAt < DIRECTORY_MS) return;
  await loadMatches();
}

async function loadMatches() {
  state.directoryAt = Date.now();
  const body = await getJson("matches?limit=100");
  if (!body) return;
  const rank = {live: 0, half_time: 1, pre_match: 2, finished: 3};
  const matches = body.matches.sort((a, b) => rank[a.status] - rank[b.status]);
  $("no-matches").hidden = matches.length > 0;
  $("match-list").replaceChildren(...matches.map((m) => {
    const item = document.createElement("li");
    const button = document.createElement("button");
    button.type = "button";
    button.dataset.matchId = m.match_id;
    button.setAttribute("aria-current", String(m.match_id === state.matchId));
    const score = m.teams.map((t) => `${t} ${m.score[t] ?? 0}`).join(" – ") || "no events yet";
    button.append(m.match_id, Object.assign(document.createElement("span"), {
      className: "meta", textContent: `${STATUS[m.status]}${m.minute != null ? ` · ${m.minute}'` : ""} · ${score}`}));
    button.addEventListener("click", () => openMatch(m.match_id));
    item.append(button);
    return item;
  }));
}

// -- one match --------------------------------------------------------------------------------------------

async function openMatch(matchId) {
  if (state.matchId && state.socketUp) send({action: "unsubscribe", match_id: state.matchId});
  Object.assign(state, {matchId, events: new Map(), stats: null, cursor: null, periodStats: null});
  state.etags.clear();
  history.replaceState(null, "", `#${encodeURIComponent(matchId)}`);
  $("match").hidden = false;
  document.querySelectorAll("#match-list button").forEach(
    (b) => b.setAttribute("aria-current", String(b.dataset.matchId === matchId)));
  if (state.socketUp) send({action: "subscribe", match_id: matchId});  // the answer loads the match
  else await loadMatch();
}

async function loadEvents(matchId) {
  // The latest events (what the timeline shows) and every shot and goal (the pitch): three small reads,
  // where the whole match would be thousands of passes for each viewer who opens it (docs/capacity.md).
  const events = new Map();
  const base = `matches/${encodeURIComponent(matchId)}`;
  for (const path of [`${base}?order=desc&limit=${TIMELINE_EVENTS}`, `${base}/goals?limit=1000`,
                      `${base}/events/shot?limit=1000`]) {
    (await fetchJson(path)).events.forEach((e) => events.set(e.event_id, e));
  }
  return events;
}

async function loadMatch() {
  // Without the socket: the position in the change feed first, so nothing after it is missed.
  const matchId = state.matchId;
  let cursor = null;
  for (let after = null, first = true; first || after; first = false) {
    const page = await fetchJson(`matches/${encodeURIComponent(matchId)}/changes?limit=1000${after ? `&after=${after}` : ""}`);
    cursor = page.changes.length ? page.changes.at(-1).cursor : cursor;
    after = page.next_cursor;
  }
  const events = await loadEvents(matchId);
  const stats = await fetchJson(`matches/${encodeURIComponent(matchId)}/stats`);
  if (matchId !== state.matchId) return;
  Object.assign(state, {events, cursor, stats});
  render();
  if (state.period) await loadPeriod();
}

async function fetchJson(path) {
  // "no-cache": revalidate, never a copy from the browser's cache (max-age=2 would hide what just changed)
  const response = await fetch(api(path), {cache: "no-cache"});
  if (!response.ok) throw new Error(`${path}: ${response.status}`);
  return response.json();
}

function applyChange(change) {
  // A change at or before the cursor is already applied (at-least-once delivery): skip it.
  if (state.cursor !== null && change.cursor <= state.cursor) return false;
  state.cursor = change.cursor;
  if (change.change === "delete") state.events.delete(change.event.event_id);
  else state.events.set(change.event.event_id, change.event);
  return true;
}

async function catchUp() {
  // Changes after our cursor from the feed: after a reconnect, and while polling.
  const matchId = state.matchId;
  let after = state.cursor, changed = false;
  while (true) {
    const query = `limit=1000${after ? `&after=${after}` : ""}`;
    const page = await fetchJson(`matches/${encodeURIComponent(matchId)}/changes?${query}`);
    if (matchId !== state.matchId) return;
    page.changes.forEach((c) => { changed = applyChange(c) || changed; });
    if (!page.next_cursor) break;
    after = page.next_cursor;
  }
  const stats = await getJson(`matches/${encodeURIComponent(matchId)}/stats`);
  if (stats) { state.stats = stats; changed = true; }
  if (changed) render();
  if (stats && state.period) await loadPeriod();
}

// -- rendering --------------------------------------------------------------------------------------------

async function loadPeriod() {
  // The per-half switch: that period's figures from /stats?period=N, after every change of the match's.
  const matchId = state.matchId, period = state.period;
  const stats = period ? await fetchJson(`matches/${encodeURIComponent(matchId)}/stats?period=${period}`) : null;
  if (matchId === state.matchId && period === state.period) { state.periodStats = stats; render(); }
}

function render() {
  const stats = state.stats;
  if (!stats) return;
  const teams = Object.keys(stats.teams);
  const shown = state.period ? state.periodStats : stats;
  $("scoreline").textContent = teams.length
    ? teams.map((t) => `${t} ${stats.score[t]}`).join(" – ") : `${state.matchId}: no events yet`;
  $("status").textContent = STATUS[stats.status];
  $("status").className = `badge ${stats.status}`;
  const latest = [...state.events.values()].sort(byTime).at(-1);
  $("minute").textContent = latest && latest.minute != null ? `${latest.minute}'` : "";
  if (shown) {
    renderTeamStats(teams, shown);
    renderPlayers(teams, shown);
    renderLineups(shown);
  }
  renderPitch(teams);
  renderTimeline();
}

function byTime(a, b) {
  return a.timestamp < b.timestamp ? -1 : a.timestamp > b.timestamp ? 1 : a.event_id < b.event_id ? -1 : 1;
}

function cell(tag, text, attrs = {}) { return Object.assign(document.createElement(tag), {textContent: text}, attrs); }

function renderTeamStats(teams, stats) {
  const head = document.createElement("tr");
  head.append(cell("th", ""), ...teams.map((t) => cell("th", t, {scope: "col"})));
  const rows = TEAM_ROWS.map(([key, label]) => {
    const row = document.createElement("tr");
    row.append(cell("th", label, {scope: "row"}), ...teams.map((t) => cell("td", String(stats.teams[t]?.[key] ?? 0))));
    return row;
  });
  const shapes = document.createElement("tr");
  shapes.append(cell("th", "Formation", {scope: "row"}), ...teams.map((t) => cell("td", stats.teams[t]?.formation ?? "–")));
  $("team-stats").replaceChildren(head, ...rows, shapes);
}

function renderLineups(stats) {
  // Each team's lineup: formation, shirt numbers, positions and minutes, substitutes who came on last.
  const blocks = Object.entries(stats.lineups ?? {}).map(([team, lineup]) => {
    const block = cell("section", "", {className: "lineup"});
    block.dataset.team = team;
    block.append(cell("h4", `${team}${lineup.formation ? ` · ${lineup.formation}` : ""}`));
    const table = document.createElement("table");
    const head = document.createElement("tr");
    head.append(...["#", "Player", "Position", "Minutes"].map((h) => cell("th", h, {scope: "col"})));
    const rows = lineup.players.map((p) => {
      const row = document.createElement("tr");
      row.dataset.playerId = p.player_id;
      row.className = p.starter ? "starter" : "substitute";
      row.append(cell("td", p.shirt_number ?? ""), cell("th", p.player_id, {scope: "row"}), cell("td", p.position ?? ""),
                 cell("td", `${p.minutes_played}'`, {className: "minutes"}));
      return row;
    });
    table.replaceChildren(head, ...rows);
    block.append(table);
    return block;
  });
  $("lineups").replaceChildren(...blocks);
  $("no-lineups").hidden = blocks.length > 0;
}

function renderPlayers(teams, stats) {
  const select = $("team-select");
  const chosen = teams.includes(select.value) ? select.value : teams[0];
  select.replaceChildren(...teams.map((t) => cell("option", t, {value: t, selected: t === chosen})));
  const playerTeam = new Map();
  state.events.forEach((e) => { if (e.player_id && e.team_id) playerTeam.set(e.player_id, e.team_id); });
  Object.entries(stats.lineups ?? {}).forEach(([team, l]) => l.players.forEach((p) => playerTeam.set(p.player_id, team)));
  const head = document.createElement("tr");
  head.append(...["Player", "Goals", "Shots", "xG", "Passes", "Fouls", "Cards", "Minutes"]
    .map((h) => cell("th", h, {scope: "col"})));
  const rows = Object.entries(stats.players ?? {}).filter(([p]) => playerTeam.get(p) === chosen).map(([p, s]) => {
    const row = document.createElement("tr");
    row.append(cell("th", p, {scope: "row"}),
               ...[s.goals, s.shots, s.xg, s.passes, s.fouls].map((n) => cell("td", String(n ?? 0))),
               cell("td", `${s.yellow_cards} Y / ${s.red_cards} R`), cell("td", s.minutes_played ?? "–"));
    return row;
  });
  $("player-stats").replaceChildren(head, ...rows);
}

function renderPitch(teams) {
  // Shots and goals: a marker sized by xG at (x, y), a line to where the ball went, a colour per team.
  const svg = $("pitch");
  const ns = "http://www.w3.org/2000/svg";
  const shape = (name, attrs) => {
    const node = document.createElementNS(ns, name);
    Object.entries(attrs).forEach(([k, v]) => node.setAttribute(k, v));
    return node;
  };
  const lines = [shape("rect", {x: 0.5, y: 0.5, width: 99, height: 67, class: "line"}),
                 shape("line", {x1: 50, y1: 0.5, x2: 50, y2: 67.5, class: "line"}),
                 shape("circle", {cx: 50, cy: 34, r: 9.15, class: "line"}),
                 shape("rect", {x: 0.5, y: 13.84, width: 16.5, height: 40.32, class: "line"}),
                 shape("rect", {x: 83, y: 13.84, width: 16.5, height: 40.32, class: "line"})];
  const marks = [...state.events.values()]
    .filter((e) => (e.event_type === "goal" || e.event_type === "shot") && e.x != null && e.y != null)
    .filter((e) => !state.period || String(e.period) === state.period)
    .flatMap((e) => {
      const team = `team-${Math.max(0, teams.indexOf(e.team_id)) % 2}`;
      const drawn = [];
      if (e.end_x != null && e.end_y != null) {
        drawn.push(shape("line", {x1: e.x, y1: e.y * 0.68, x2: e.end_x, y2: e.end_y * 0.68,
                                  class: `path ${team}`, "data-event-id": e.event_id}));
      }
      const mark = shape("circle", {cx: e.x, cy: e.y * 0.68, r: (0.9 + 3 * (e.xg ?? 0.05)).toFixed(2),
                                    class: `${e.event_type} ${team}`, "data-event-id": e.event_id});
      const xg = e.xg != null ? ` xG ${e.xg}` : "";
      mark.append(Object.assign(document.createElementNS(ns, "title"),
                                {textContent: `${e.event_type} ${e.player_id ?? ""} (${e.team_id}) ${e.minute ?? ""}'${xg}`}));
      drawn.push(mark);
      return drawn;
    });
  svg.replaceChildren(...lines, ...marks);
  $("pitch-key").replaceChildren(...teams.slice(0, 2).map((t, n) => cell("span", t, {className: `key team-${n}`})),
                                 cell("span", "filled: goal · size: xG · line: where the ball went"));
}

function renderTimeline() {
  const items = [...state.events.values()].sort(byTime).reverse().slice(0, TIMELINE_EVENTS).map((e) => {
    const item = document.createElement("li");
    item.className = e.event_type;
    item.dataset.eventId = e.event_id;
    const who = [e.player_id, e.team_id && `(${e.team_id})`].filter(Boolean).join(" ");
    item.append(cell("span", e.minute != null ? `${e.minute}'` : "", {className: "minute"}),
                Object.assign(document.createElement("span"), {}));
    const symbol = SYMBOLS[e.event_type];
    if (symbol) {
      const icon = document.createElementNS("http://www.w3.org/2000/svg", "svg");
      Object.entries({viewBox: "0 0 16 16", width: "16", height: "16", class: "symbol", "aria-hidden": "true"})
        .forEach(([k, v]) => icon.setAttribute(k, v));
      icon.innerHTML = symbol;  // a constant of this file, never received text
      item.lastChild.append(icon, " ");
    }
    item.lastChild.append(cell("span", LABELS[e.event_type] ?? e.event_type.replaceAll("_", " "), {className: "kind"}),
                          ` ${who}${e.outcome ? ` · ${e.outcome}` : ""}`);
    return item;
  });
  $("timeline").replaceChildren(...items);
}

// -- the socket, and polling while it is down -------------------------------------------------------------

function send(message) { if (state.socketUp) state.socket.send(JSON.stringify(message)); }

function connect() {
  let socket;
  try {
    socket = new WebSocket(state.config.websocket);
  } catch (error) {
    return startPolling();
  }
  state.socket = socket;
  let ping = null, renew = null;
  socket.onopen = () => {
    state.socketUp = true;
    state.retry = 0;
    stopPolling();
    setConnection("live");
    if (state.matchId) send({action: "subscribe", match_id: state.matchId});
    ping = setInterval(() => send({action: "ping"}), PING_MS);
    // reconnect before API Gateway's 2-hour limit, at a random moment of the last 10 minutes so a crowd
    // that joined together does not reconnect together; the reconnect catches up from the change feed
    renew = setTimeout(() => socket.close(), MAX_CONNECTION_MS - 600000 * (1 + Math.random()));
  };
  socket.onmessage = ({data}) => {  // one message at a time, in order, loads included
    state.queue = state.queue.then(() => handle(JSON.parse(data))).catch((error) => setConnection(`error: ${error.message}`));
  };
  socket.onclose = () => {
    clearInterval(ping);
    clearTimeout(renew);
    state.socketUp = false;
    setConnection("polling (live connection lost)");
    startPolling();
    state.retry = Math.min(state.retry + 1, 6);
    setTimeout(connect, 500 * 2 ** state.retry);
  };
}

async function handle(message) {
  if (message.match_id !== undefined && message.match_id !== state.matchId) return;
  if (message.type === "subscribed") {
    if (state.cursor === null && state.events.size === 0) {
      // The first load: the subscription's own totals and cursor, and every event stored by now (changes
      // after the cursor that these already hold are pushed again and applied again: they are whole events).
      const events = await loadEvents(message.match_id);
      if (message.match_id !== state.matchId) return;
      Object.assign(state, {events, cursor: message.cursor, stats: message.stats});
      render();
      if (state.period) await loadPeriod();
    } else {
      await catchUp();  // a reconnect: fill the gap from the change feed
    }
  } else if (message.type === "change") {
    if (applyChange(message)) render();
  } else if (message.type === "stats") {
    state.stats = message.stats;
    render();
    if (state.period) await loadPeriod();
  }
}

function startPolling() {
  if (state.pollTimer) return;
  state.pollTimer = setInterval(async () => {
    try {
      await refreshMatches();
      if (state.matchId) await catchUp();
    } catch (error) {
      setConnection(`offline (${error.message})`);
    }
  }, POLL_MS);
}

function stopPolling() {
  clearInterval(state.pollTimer);
  state.pollTimer = null;
}

function hashMatch() {  // the match a link names; a malformed one (#%E0) names none instead of stopping the page
  try { return decodeURIComponent(location.hash.slice(1)); } catch { return ""; }
}

async function main() {
  state.config = await (await fetch(api("config"))).json();
  const periods = $("period-select");
  periods.replaceChildren(...PERIODS.map(([value, label]) => cell("option", label, {value})));
  periods.addEventListener("change", () => {
    state.period = periods.value;
    state.periodStats = null;
    render();
    loadPeriod().catch((error) => setConnection(`error: ${error.message}`));
  });
  await loadMatches();
  const wanted = hashMatch();
  if (wanted) await openMatch(wanted);
  window.addEventListener("hashchange", () => {  // a link or the address bar names another match
    const matchId = hashMatch();
    if (matchId && matchId !== state.matchId) openMatch(matchId);
  });
  if (state.config.websocket) connect(); else { setConnection("polling"); startPolling(); }
  setInterval(() => { if (state.socketUp) refreshMatches(); }, DIRECTORY_MS);  // new matches appear
}

window.matchCentre = state;  // for the curious, and for the browser tests
main().catch((error) => setConnection(`error: ${error.message}`));
