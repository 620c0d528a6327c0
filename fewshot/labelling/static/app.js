// The labelling page. Every text from the pool is shown with textContent, never as HTML.
"use strict";

const $ = (id) => document.getElementById(id);
const SVG = "http://www.w3.org/2000/svg";
let state = null;
let current = null;
let picked = new Set();
let fits = -1;

async function api(path, body) {
  const options = body === undefined ? {} : {
    method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body),
  };
  const answer = await fetch(path, options);
  const data = await answer.json().catch(() => ({}));
  if (!answer.ok) {
    const detail = Array.isArray(data.detail) ? data.detail.map((d) => d.msg).join("; ") : data.detail;
    throw new Error(detail || `${answer.status} ${answer.statusText}`);
  }
  return data;
}

function say(text) { $("message").textContent = text || ""; }

function element(tag, text, className) {
  const made = document.createElement(tag);
  if (text !== undefined) made.textContent = text;
  if (className) made.className = className;
  return made;
}

function describe(decision) {
  if (!decision) return "";
  if (decision.kind === "skip") return "skipped";
  if (decision.kind === "none") return "none of these";
  return decision.labels.join(", ");
}

// -- the text being labelled --------------------------------------------------------------

function choices() {
  const guessed = current && current.guesses.length ? current.guesses : [];
  const labels = guessed.map((g) => g.label);
  for (const name of state ? state.classes : []) {
    if (labels.length >= 9) break;
    if (!labels.includes(name)) labels.push(name);
  }
  return labels.slice(0, 9).map((label) => ({
    label, probability: (guessed.find((g) => g.label === label) || {}).probability,
  }));
}

function show(item) {
  current = item && item.row !== null ? item : null;
  picked = new Set(current && current.decision && current.decision.kind === "label"
    ? current.decision.labels : []);
  $("text").textContent = current ? current.text : "Every text of the pool has a decision.";
  $("position").textContent = !current ? "" : `pool row ${current.row + 1}` +
    (current.drawn ? " · drawn at random from the pool, for the accuracy estimate" : "");
  $("decided").textContent = current && current.decision
    ? `decided: ${describe(current.decision)}; pick again to change it` : "";
  renderChoices();
}

function renderChoices() {
  const list = $("choices");
  list.replaceChildren();
  if (!current) return;
  choices().forEach((choice, i) => {
    const button = element("button", choice.label);
    button.type = "button";
    button.dataset.label = choice.label;
    if (picked.has(choice.label)) button.classList.add("picked");
    button.prepend(element("kbd", String(i + 1)));
    if (choice.probability !== undefined) {
      button.append(element("span", `${Math.round(choice.probability * 100)}%`, "p"));
    }
    button.addEventListener("click", () => choose(choice.label));
    const item = element("li");
    item.append(button);
    list.append(item);
  });
  renderClassList();
}

function renderClassList() {
  const filter = $("class-filter").value.toLowerCase();
  const list = $("class-list");
  list.replaceChildren();
  for (const name of state ? state.classes : []) {
    if (filter && !name.toLowerCase().includes(filter)) continue;
    const button = element("button", name, "class");
    button.type = "button";
    if (picked.has(name)) button.classList.add("picked");
    button.addEventListener("click", () => choose(name));
    list.append(button);
  }
}

async function choose(label) {
  if (!current) return;
  if (state.multi_label) {
    picked.has(label) ? picked.delete(label) : picked.add(label);
    renderChoices();
    return;
  }
  await decide("label", [label]);
}

async function decide(kind, labels) {
  if (!current) return;
  if (kind === "label" && !labels.length) { say("pick at least one class first"); return; }
  try {
    await api("/api/decide", {row: current.row, kind, labels});
    say("");
    show(await api("/api/next"));
    refresh();
  } catch (error) { say(error.message); }
}

async function undo() {
  try {
    const answer = await api("/api/undo", {});
    if (answer.undone === null) { say("nothing to undo"); return; }
    say(`undone: ${describe(answer.undone)}`);
    show(answer);
    refresh();
  } catch (error) { say(error.message); }
}

async function openRow(row) {
  try { show(await api(`/api/text/${row}`)); } catch (error) { say(error.message); }
}

// -- the side panels ----------------------------------------------------------------------

function drawCurve(points) {
  const svg = $("curve");
  svg.replaceChildren();
  if (!points.length) return;
  const most = Math.max(...points.map((p) => p.labels), 1);
  const x = (n) => 20 + (270 * n) / most;
  const y = (a) => 105 - 95 * a;
  const band = document.createElementNS(SVG, "polygon");
  const upper = points.map((p) => `${x(p.labels)},${y(p.high)}`);
  const lower = points.slice().reverse().map((p) => `${x(p.labels)},${y(p.low)}`);
  band.setAttribute("points", upper.concat(lower).join(" "));
  band.setAttribute("class", "band");
  const line = document.createElementNS(SVG, "polyline");
  line.setAttribute("points", points.map((p) => `${x(p.labels)},${y(p.accuracy)}`).join(" "));
  line.setAttribute("class", "line");
  svg.append(band, line);
  for (const p of points) {  // a dot per estimate: one estimate is a point, not a line
    const dot = document.createElementNS(SVG, "circle");
    dot.setAttribute("cx", x(p.labels));
    dot.setAttribute("cy", y(p.accuracy));
    dot.setAttribute("r", 2.5);
    svg.append(dot);
  }
  for (const [text, tx, ty] of [["1.0", 2, y(1) + 3], ["0.0", 2, y(0) + 3], [`${most} labels`, 240, 118]]) {
    const label = document.createElementNS(SVG, "text");
    label.setAttribute("x", tx);
    label.setAttribute("y", ty);
    label.textContent = text;
    svg.append(label);
  }
}

function renderTraining(training) {
  let text = "";
  if (training.state === "training") {
    const steps = training.steps.planned
      ? `, step ${training.steps.done} of ${training.steps.planned}` : "";
    text = `training ${training.learner} on ${training.labels} labels (${training.seconds} s${steps})`;
  } else if (training.state === "ready") {
    text = `model: ${training.learner}, fitted on ${training.labels} labels in ${training.fit_seconds} s`;
  } else if (training.state === "failed") {
    text = `training failed: ${training.error}`;
  }
  $("training").textContent = text;
}

async function refresh() {
  try {
    state = await api("/api/state");
  } catch (error) { say(error.message); return; }
  $("project").textContent = `${state.project}: ${state.counts.pool} texts`;
  renderTraining(state.training);
  $("save").hidden = !state.multi_label;
  const counts = state.counts;
  $("totals").textContent = `${counts.labelled} labelled, ${counts.none} none of these, ` +
    `${counts.skipped} skipped, of ${counts.pool}`;
  const body = $("counts").tBodies[0];
  body.replaceChildren();
  for (const [name, n] of Object.entries(counts.classes)) {
    const row = element("tr");
    row.append(element("td", name), element("td", String(n)));
    body.append(row);
  }
  const pct = (a) => (100 * a).toFixed(1);
  const last = state.estimates[state.estimates.length - 1];
  if (last) {
    $("estimate").textContent = `Cross-validated on your labels: ${pct(last.accuracy)}% ` +
      `(95% interval ${pct(last.low)}–${pct(last.high)}%), ${last.labels} labels, ` +
      `${last.folds}-fold, ${last.learner}`;
  }
  const audit = state.audit;
  if (audit.n) {
    $("audit").textContent = `On random texts of the pool: ${pct(audit.accuracy)}% ` +
      `(95% interval ${pct(audit.low)}–${pct(audit.high)}%), ${audit.correct} of ${audit.n} ` +
      "guessed right before you labelled them";
  } else if (!audit.every) {
    $("audit").textContent = "No random draws in this session (--audit-every 0).";
  }
  drawCurve(state.estimates);
  const suspects = $("suspects");
  suspects.replaceChildren();
  for (const suspect of state.suspects) {
    const item = element("li", `${suspect.text} `);
    item.append(element("span", `labelled ${suspect.label}; the model says ${suspect.suggested}`, "p"));
    item.addEventListener("click", () => openRow(suspect.row));
    suspects.append(item);
  }
  if (!state.suspects.length) suspects.append(element("li", "none so far"));
  const recent = (await api("/api/labels?limit=15")).rows;
  const table = $("recent").tBodies[0];
  table.replaceChildren();
  for (const r of recent) {
    const row = element("tr");
    row.append(element("td", r.text), element("td", describe(r)));
    row.addEventListener("click", () => openRow(r.row));
    table.append(row);
  }
  const fitted = state.training.fits === undefined ? fits : state.training.fits;
  if (fitted !== fits) {  // a new model: fresh guesses for the text on show
    fits = fitted;
    if (current) {
      const again = await api(`/api/text/${current.row}`);
      current.guesses = again.guesses;
      renderChoices();
    }
  }
  renderClassList();
}

let searching = null;
function search() {
  clearTimeout(searching);
  searching = setTimeout(async () => {
    const query = $("search").value;
    const list = $("results");
    list.replaceChildren();
    if (!query.trim()) return;
    const found = await api(`/api/search?q=${encodeURIComponent(query)}`);
    for (const r of found.rows) {
      const item = element("li", `${r.text} `);
      if (r.decision) item.append(element("span", describe(r.decision), "p"));
      item.addEventListener("click", () => openRow(r.row));
      list.append(item);
    }
    if (!found.rows.length) list.append(element("li", "no text holds that"));
  }, 200);
}

function typing(target) {
  return target instanceof HTMLInputElement || target instanceof HTMLTextAreaElement;
}

document.addEventListener("keydown", (event) => {
  if (event.ctrlKey || event.metaKey || event.altKey) return;
  if (typing(event.target)) {
    if (event.key === "Escape") event.target.blur();
    return;
  }
  const options = choices();
  if (/^[1-9]$/.test(event.key) && options[Number(event.key) - 1]) {
    choose(options[Number(event.key) - 1].label);
  } else if (event.key === "0" || event.key === "n") {
    decide("none", []);
  } else if (event.key === "s") {
    decide("skip", []);
  } else if (event.key === "u" || event.key === "Backspace") {
    undo();
  } else if (event.key === "Enter" && state && state.multi_label) {
    decide("label", [...picked]);
  } else if (event.key === "/") {
    $("search").focus();
  } else {
    return;
  }
  event.preventDefault();
});

document.addEventListener("DOMContentLoaded", async () => {
  $("none").addEventListener("click", () => decide("none", []));
  $("skip").addEventListener("click", () => decide("skip", []));
  $("undo").addEventListener("click", undo);
  $("save").addEventListener("click", () => decide("label", [...picked]));
  $("search").addEventListener("input", search);
  $("class-filter").addEventListener("input", renderClassList);
  $("new-class").addEventListener("submit", async (event) => {
    event.preventDefault();
    const name = $("new-class-name").value.trim();
    if (!name) return;
    try {
      const answer = await api("/api/classes", {name});
      say(answer.added ? `added ${name}` : `${name} is a class already`);
      $("new-class-name").value = "";
      await refresh();
      renderChoices();
    } catch (error) { say(error.message); }
  });
  $("export-model").addEventListener("click", async () => {
    $("exported").textContent = "saving the model...";
    try {
      const answer = await api("/api/export/model", {});
      $("exported").textContent = `saved ${answer.path} (${answer.labels} labels)`;
    } catch (error) { $("exported").textContent = error.message; }
  });
  await refresh();
  show(await api("/api/next"));
  setInterval(refresh, 2000);
});
