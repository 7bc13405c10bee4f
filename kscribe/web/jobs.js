// The tenant's jobs, newest first, kept live by polling with backoff: every second while
// something changes, slowing to ten seconds when nothing does.
import { ApiError, call, explain } from "./api.js";
import { clock, duration, el, fileName } from "./util.js";

export const TERMINAL = new Set(["succeeded", "failed", "cancelled"]);
export const STAGES = { queued: "waiting to start", extracting: "extracting audio", transcribing: "transcribing",
  publishing: "writing the transcript", succeeded: "done", failed: "failed", cancelled: "cancelled" };

export class JobList {
  constructor(list, empty, error, filter) {
    Object.assign(this, { list, empty, error, filter, rows: new Map(), timer: null, delay: 1000, running: false });
    filter.addEventListener("change", () => { this.rows.clear(); this.list.replaceChildren(); this.refresh(); });
  }

  start() { this.running = true; this.refresh(); }
  stop() { this.running = false; clearTimeout(this.timer); }

  async refresh() {
    clearTimeout(this.timer);
    let changed = false;
    try {
      const query = this.filter.value ? `&status=${encodeURIComponent(this.filter.value)}` : "";
      const page = await call("GET", `/api/v1/transcriptions?limit=50${query}`);
      changed = this.render(page.items);
      this.error.textContent = "";
    } catch (error) {
      this.error.textContent = explain(error);
      if (error instanceof ApiError && error.status === 429) this.retryAfter = error.retryAfter || 5;
    }
    // Every 2 s while something changes or runs, slower while nothing does; a 429 waits its
    // Retry-After (the page's polls share the key's requests per minute).
    this.delay = changed ? 2000 : Math.min(this.delay * 1.5, 10000);
    if (this.retryAfter) { this.delay = Math.max(this.delay, this.retryAfter * 1000); this.retryAfter = 0; }
    if (this.running) this.timer = setTimeout(() => this.refresh(), this.delay);
  }

  render(items) {
    let changed = false;
    const seen = new Set();
    items.forEach((job, index) => {
      seen.add(job.id);
      let row = this.rows.get(job.id);
      const signature = JSON.stringify([job.status, job.progress, job.timings, job.error, job.queue, job.transcribed_s]);
      if (!row) {
        row = this.row(job);
        this.rows.set(job.id, row);
        changed = true;
      }
      if (row.dataset.signature !== signature) {
        this.update(row, job);
        row.dataset.signature = signature;
        changed = true;
      }
      if (this.list.children[index] !== row) this.list.insertBefore(row, this.list.children[index] || null);
    });
    for (const [id, row] of this.rows) if (!seen.has(id)) { row.remove(); this.rows.delete(id); }
    this.empty.hidden = items.length > 0;
    return changed || [...this.rows.values()].some((r) => !TERMINAL.has(r.dataset.status));
  }

  row(job) {
    const row = el("li", { class: "job", "data-job": job.id });
    row.parts = {
      status: el("span", { class: "badge status" }),
      stage: el("span", { class: "stage muted" }),
      bar: el("progress", { max: 100, value: 0, "aria-label": `Progress of ${fileName(job.source)}` }),
      timings: el("span", { class: "timings" }),
      reason: el("p", { class: "reason", hidden: true }),
      open: el("a", { class: "open", href: `#/jobs/${job.id}`, text: "Follow" }),
      cancel: el("button", { class: "danger cancel", type: "button", text: "Cancel",
        "aria-label": `Cancel ${fileName(job.source)}`, onclick: () => this.cancel(job.id, row) }),
    };
    const created = new Date(job.created_at * 1000);
    row.append(
      el("div", { class: "line" },
        el("span", { class: "name", text: fileName(job.source) }), row.parts.status, row.parts.stage,
        el("span", { class: "actions" }, row.parts.open, row.parts.cancel)),
      row.parts.bar,
      el("div", { class: "line about" },
        el("time", { class: "muted", datetime: created.toISOString(), text: created.toLocaleString() }),
        ...describe(job).map(([name, value]) => el("span", { class: `muted ${name}`, title: name === "id" ? job.id : null, text: value })),
        row.parts.timings),
      row.parts.reason,
    );
    return row;
  }

  update(row, job) {
    const p = row.parts;
    row.dataset.status = job.status;
    p.status.textContent = job.status;
    p.status.className = `badge status s-${job.status}`;
    p.stage.textContent = `${STAGES[job.status] || job.status}${TERMINAL.has(job.status) ? "" : heard(job)} · ${job.progress}%${inLine(job.queue)}`;
    p.bar.value = job.status === "succeeded" ? 100 : job.progress;
    p.bar.hidden = job.status === "failed" || job.status === "cancelled";
    const timings = Object.entries(job.timings || {}).map(([stage, s]) => `${stage} ${Number(s).toFixed(1)} s`);
    if (job.duration_s) timings.unshift(`${clock(job.duration_s)} of media`);
    const total = job.updated_at - job.created_at;
    if (TERMINAL.has(job.status) && total > 0) timings.push(`${duration(total)} in all`);
    p.timings.textContent = timings.join(" · ");
    p.reason.hidden = job.status !== "failed";
    p.reason.textContent = job.error ? `Failed${job.failed_stage ? ` at ${job.failed_stage}` : ""}: ${job.error.message}` : "";
    p.open.textContent = job.status === "succeeded" ? "Open transcript" : "Follow";
    p.open.hidden = job.status === "failed" || job.status === "cancelled";
    p.cancel.hidden = TERMINAL.has(job.status);
  }

  async cancel(jobId, row) {
    row.parts.cancel.disabled = true;
    try {
      const job = await call("DELETE", `/api/v1/transcriptions/${jobId}`);
      this.update(row, job);
    } catch (error) {
      this.error.textContent = explain(error);
    } finally {
      row.parts.cancel.disabled = false;
    }
    this.refresh();
  }
}

// A waiting job's place in line and estimated start (the API's "queue"; null once started).
function inLine(queue) {
  if (!queue) return "";
  const when = queue.estimated_wait_s == null ? "start not yet estimated" : `starts in about ${duration(queue.estimated_wait_s)}`;
  return ` · place ${queue.place} in line, ${when}`;
}

// How far transcription has come: chunks stored, and the seconds decoded so far (inside the
// chunks still on a worker too), so a one-chunk job moves before its chunk is done.
export function heard(job) {
  if (!job.chunks.total) return "";
  // Chunks run side by side on several workers: say how many are done, not which one runs.
  const chunks = ` · ${job.chunks.done} of ${job.chunks.total} chunk${job.chunks.total > 1 ? "s" : ""} done`;
  if (!job.duration_s || job.status !== "transcribing") return chunks;
  return `${chunks} · ${clock(job.transcribed_s || 0)} of ${clock(job.duration_s)} heard`;
}

// What tells one job from another: model, task, how it came, its short id.
const ORIGINS = { upload: "uploaded here", api: "API", batch: "API batch", openai: "OpenAI route", bucket: "bucket", cli: "CLI" };
function describe(job) {
  const parts = [["model", job.model], ["task", job.task]];
  if (job.origin) parts.push(["origin", ORIGINS[job.origin] || job.origin]);
  parts.push(["id", `id ${job.id.slice(0, 8)}`]);
  return parts;
}
