// Uploads: one upload session per file (POST /api/v1/uploads), then the bytes — straight to
// the bucket's resumable session in production, through the API on a local stack — and then
// the one job ingest made of the object, found through GET /api/v1/uploads/{id}.
import { call, explain, key } from "./api.js";
import { bytes, el } from "./util.js";

const RESUME = "kscribe.resume."; // localStorage: resumable sessions by file, so a reload resumes

export class Uploader {
  constructor(list, options, onJob) {
    this.list = list;
    this.options = options; // () => the job's choices: {language, model, task, formats, audio_track, …}
    this.onJob = onJob;
  }

  add(files) {
    for (const file of files) this.start(file);
  }

  async start(file) {
    const bar = el("progress", { max: file.size || 1, value: 0, "aria-label": `Upload of ${file.name}` });
    const state = el("span", { class: "badge s-uploading", text: "uploading" });
    const info = el("span", { class: "muted", text: `0 B of ${bytes(file.size)}` });
    const row = el("li", { class: "upload" },
      el("div", { class: "line" }, el("span", { class: "name", text: file.name }), state),
      bar, info);
    this.list.prepend(row);
    const show = (label, cls) => { state.textContent = label; state.className = `badge ${cls}`; };
    let session = null;
    let sent = false;
    try {
      const remembered = this.remembered(file);
      session = remembered || await call("POST", "/api/v1/uploads", {
        body: { filename: file.name, size: file.size, content_type: file.type || "application/octet-stream", ...this.options() },
      });
      row.dataset.upload = session.id;
      const meter = new Meter(bar, info, file.size);
      if (session.mode === "direct") {
        localStorage.setItem(this.resumeKey(file), JSON.stringify(session));
        await putResumable(session.upload_url, file, meter);
        localStorage.removeItem(this.resumeKey(file));
      } else {
        await putThroughApi(session.upload_url, file, meter);
      }
      sent = true;
      meter.done();
      show("waiting for its job", "s-queued");
      const job = await waitForJob(session.id);
      show("job created", "s-succeeded");
      row.append(el("a", { href: `#/jobs/${job.id}`, text: "Open its job" }));
      this.onJob(job);
    } catch (error) {
      // An upload through the api whose bytes did not arrive gives its session up, and with
      // it the slot it held among the tenant's unfinished jobs (a direct one stays, to resume).
      if (session && session.mode !== "direct" && !sent) {
        call("DELETE", `/api/v1/uploads/${session.id}`).catch(() => {});
      }
      show("failed", "s-failed");
      info.textContent = explain(error);
      info.className = "reason";
    }
  }

  resumeKey(file) { return `${RESUME}${key.get().slice(-8)}.${file.name}.${file.size}.${file.lastModified}`; }

  remembered(file) {
    try { return JSON.parse(localStorage.getItem(this.resumeKey(file)) || "null"); } catch { return null; }
  }
}

class Meter {
  constructor(bar, info, total) {
    Object.assign(this, { bar, info, total, t0: performance.now(), from: 0, rate: 0, last: performance.now(), lastBytes: 0 });
  }
  resumeAt(offset) { this.from = offset; this.lastBytes = offset; this.update(offset); }
  update(loaded) {
    const now = performance.now();
    const dt = (now - this.last) / 1000;
    if (dt > 0.25) {
      const instant = (loaded - this.lastBytes) / dt;
      this.rate = this.rate ? 0.7 * this.rate + 0.3 * instant : instant;
      this.last = now;
      this.lastBytes = loaded;
    }
    this.bar.value = loaded;
    this.info.textContent = `${bytes(loaded)} of ${bytes(this.total)} · ${bytes(this.rate)}/s`;
  }
  done() {
    const seconds = (performance.now() - this.t0) / 1000;
    this.bar.value = this.total;
    this.info.textContent = `${bytes(this.total)} uploaded in ${seconds.toFixed(1)} s (${bytes((this.total - this.from) / Math.max(seconds, 0.001))}/s)`;
  }
}

function xhr(method, url, body, headers, onProgress) {
  return new Promise((resolve, reject) => {
    const request = new XMLHttpRequest();
    request.open(method, url);
    for (const [name, value] of Object.entries(headers)) request.setRequestHeader(name, value);
    request.upload.onprogress = (e) => onProgress && onProgress(e.loaded);
    request.onload = () => resolve(request);
    request.onerror = () => reject(new Error("the connection broke"));
    request.onabort = () => reject(new Error("the upload was stopped"));
    request.send(body);
  });
}

async function putThroughApi(url, file, meter) {
  const response = await xhr("PUT", url, file, { Authorization: `Bearer ${key.get()}`, "Content-Type": "application/octet-stream" },
    (loaded) => meter.update(loaded));
  if (response.status >= 300) {
    let message = `${response.status}`;
    try { message = JSON.parse(response.responseText).error.message; } catch { /* not JSON */ }
    throw new Error(message);
  }
}

// GCS's resumable protocol: PUT chunks with Content-Range; after a break, ask how much the
// session holds (PUT with "bytes */size": 308 with a Range header) and go on from there.
async function putResumable(url, file, meter, chunk = 8 * 1024 * 1024) {
  let offset = await committed(url, file.size);
  meter.resumeAt(offset);
  let failures = 0;
  while (offset < file.size) {
    const end = Math.min(offset + chunk, file.size);
    try {
      const response = await xhr("PUT", url, file.slice(offset, end),
        { "Content-Range": `bytes ${offset}-${end - 1}/${file.size}` }, (loaded) => meter.update(offset + loaded));
      if (response.status === 200 || response.status === 201) return;
      if (response.status !== 308) throw new Error(`the bucket answered ${response.status}`);
      offset = rangeEnd(response);
      failures = 0;
    } catch (error) {
      if (++failures > 8) throw error;
      await new Promise((r) => setTimeout(r, Math.min(30000, 500 * 2 ** failures)));
      offset = await committed(url, file.size);
    }
    meter.update(offset);
  }
}

async function committed(url, size) {
  const response = await xhr("PUT", url, null, { "Content-Range": `bytes */${size}` });
  if (response.status === 200 || response.status === 201) return size;
  if (response.status === 308) return rangeEnd(response);
  if (response.status === 404 || response.status === 410) throw new Error("the upload session expired: upload again");
  return 0;
}

function rangeEnd(response) {
  const range = response.getResponseHeader("Range");
  return range ? Number(range.split("-")[1]) + 1 : 0;
}

async function waitForJob(uploadId) {
  const deadline = Date.now() + 120000;
  let delay = 250;
  while (Date.now() < deadline) {
    const upload = await call("GET", `/api/v1/uploads/${uploadId}`);
    if (upload.job) return upload.job;
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 1.5, 3000);
  }
  throw new Error("the upload is stored, but no job appeared for it yet; it will show in the list when it does");
}
