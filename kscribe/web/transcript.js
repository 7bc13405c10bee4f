// The transcript against its video: captions from the VTT, the spoken segment highlighted and
// kept in view, a click (or Enter) on any word seeks there, search with next/previous, downloads,
// names for its speakers. A job still running shows its progress and the text so far instead.
import { call, explain, politely } from "./api.js";
import { heard, STAGES, TERMINAL } from "./jobs.js";
import { clock, duration, el, fileName } from "./util.js";

const $ = (id) => document.getElementById(id);
// How often a running job's page asks for its progress and new text.
const WATCH_EVERY_MS = 2500;
const FORMAT_NAMES = { json: "JSON (word timings)", srt: "SRT", vtt: "WebVTT", txt: "Text", tsv: "TSV" };

export class TranscriptView {
  constructor() {
    this.video = $("video");
    this.list = $("segments");
    this.segments = [];
    this.words = [];
    this.current = -1;
    this.matches = [];
    this.active = -1;
    this.urls = [];
    this.names = {}; // speaker label → the name given to it
    this.generation = 0; // bumped on every open and reset: a poll of a view left behind stops
    $("speakers").addEventListener("submit", (e) => { e.preventDefault(); this.saveNames(); });
    this.video.addEventListener("timeupdate", () => this.follow());
    this.video.addEventListener("seeked", () => this.follow());
    $("search").addEventListener("input", () => this.search($("search").value));
    $("search-form").addEventListener("submit", (e) => { e.preventDefault(); this.step(1); });
    $("search-prev").addEventListener("click", () => this.step(-1));
    this.list.addEventListener("click", (e) => {
      const target = e.target.closest("[data-start]");
      if (target) this.seek(Number(target.dataset.start), target);
    });
    this.list.addEventListener("keydown", (e) => this.keys(e));
  }

  async open(jobId) {
    this.reset();
    this.jobId = jobId;
    const generation = this.generation;
    try {
      const job = await call("GET", `/api/v1/transcriptions/${jobId}`);
      if (generation !== this.generation) return;
      const name = fileName(job.source);
      $("t-title").textContent = name;
      document.title = `${name} · kscribe`;
      if (job.status !== "succeeded") {
        await this.watch(job, generation);
        return;
      }
      this.names = { ...job.speaker_names };
      const [transcript, vtt, media] = await Promise.all([
        // The labels as heard: the names given to them are applied here, and can change.
        call("GET", `/api/v1/transcriptions/${jobId}/transcript?format=json&speaker_names=false`),
        job.outputs.vtt ? call("GET", `/api/v1/transcriptions/${jobId}/transcript?format=vtt`, { raw: true }).then((r) => r.blob()) : null,
        call("POST", `/api/v1/transcriptions/${jobId}/media`),
      ]);
      this.meta(job, transcript);
      this.downloads(job, name);
      this.video.src = media.url;
      if (vtt) {
        const url = URL.createObjectURL(new Blob([vtt], { type: "text/vtt" }));
        this.urls.push(url);
        const lang = transcript.language || job.detected_language || "en";
        this.video.append(el("track", { kind: "captions", src: url, srclang: lang, label: languageName(lang), default: true }));
      }
      this.render(transcript.segments);
      this.speakerForm();
    } catch (error) {
      if (generation === this.generation) $("t-error").textContent = explain(error);
    }
  }

  // A running job: its progress, and each chunk's text as it is stored, polled until the job
  // ends; once it succeeded, the transcript view proper.
  async watch(job, generation) {
    $("viewer").hidden = true;
    $("live").hidden = false;
    let next = 0;
    while (generation === this.generation) {
      if (job.status === "succeeded") { this.open(job.id); return; }
      if (TERMINAL.has(job.status)) {
        $("live").hidden = true;
        $("t-error").textContent = job.status === "failed" ? `This job failed: ${job.error.message}` : "This job was cancelled.";
        return;
      }
      $("live-stage").textContent = `${STAGES[job.status] || job.status}${heard(job)} · ${job.progress}%`;
      $("live-bar").value = job.progress;
      const part = await politely(() => call("GET", `/api/v1/transcriptions/${job.id}/chunks?from=${next}`));
      if (generation !== this.generation) return;
      for (const chunk of part.chunks) {
        if (!chunk.text) continue;
        $("live-text").append(el("li", { "data-chunk": chunk.index },
          el("time", { text: clock(chunk.start_s) }), el("p", { text: chunk.text })));
      }
      next = part.next;
      // Two requests a round, every WATCH_EVERY_MS: with the jobs list's polling, well within
      // the key's default 120 requests a minute.
      await new Promise((r) => setTimeout(r, WATCH_EVERY_MS));
      if (generation !== this.generation) return;
      job = await politely(() => call("GET", `/api/v1/transcriptions/${job.id}`));
    }
  }

  // One field per speaker label the transcript has, in the order they first speak.
  speakerForm() {
    const labels = [...new Set(this.segments.map((s) => s.speaker).filter(Boolean))];
    $("speakers").hidden = !labels.length;
    $("speaker-fields").replaceChildren(...labels.map((label, i) => el("div", { class: "field" },
      el("label", { for: `speaker-${i}`, text: speakerName(label) }),
      el("input", { id: `speaker-${i}`, "data-label": label, value: this.names[label] || "", placeholder: speakerName(label),
        maxlength: "64", autocomplete: "off" }))));
  }

  async saveNames() {
    const names = {};
    for (const input of $("speaker-fields").querySelectorAll("input")) {
      if (input.value.trim()) names[input.dataset.label] = input.value.trim();
    }
    $("speakers-save").disabled = true;
    $("speakers-status").textContent = "";
    try {
      const job = await call("PUT", `/api/v1/transcriptions/${this.jobId}/speakers`, { body: { names } });
      this.names = { ...job.speaker_names };
      for (const label of this.list.querySelectorAll(".speaker")) label.textContent = this.speakerLabel(label.dataset.label);
      $("speakers-status").textContent = "Saved: the transcript and its downloads use these names.";
    } catch (error) {
      $("speakers-status").textContent = explain(error);
    } finally {
      $("speakers-save").disabled = false;
    }
  }

  speakerLabel(label) {
    return this.names[label] || speakerName(label);
  }

  reset() {
    this.generation++;
    $("live").hidden = true;
    $("viewer").hidden = false;
    $("speakers").hidden = true;
    $("live-text").replaceChildren();
    $("speaker-fields").replaceChildren();
    $("speakers-status").textContent = "";
    this.names = {};
    this.video.pause();
    this.video.removeAttribute("src");
    this.video.replaceChildren();
    this.video.load();
    this.urls.forEach((u) => URL.revokeObjectURL(u));
    this.urls = [];
    for (const id of ["t-title", "t-meta", "t-error", "search-count"]) $(id).textContent = "";
    $("t-details").replaceChildren();
    $("t-details").hidden = true;
    $("search").value = "";
    $("downloads").replaceChildren();
    this.list.replaceChildren();
    this.segments = []; this.words = []; this.matches = []; this.current = -1; this.active = -1;
  }

  meta(job, transcript) {
    const lang = transcript.language || job.detected_language;
    const parts = [];
    if (lang) parts.push(`Language: ${languageName(lang)}${job.language ? "" : " (detected)"}`);
    if (transcript.duration || job.duration_s) parts.push(`Duration: ${duration(transcript.duration || job.duration_s)}`);
    parts.push(`Model: ${job.model}`, `Task: ${job.task}`);
    $("t-meta").textContent = parts.join(" · ");
    // What the job's audio options came to: the track heard, why channels were not split
    // (or that they were), and the seconds of speech in each language.
    const details = [];
    if (job.audio_track_used) details.push(["Audio track", job.audio_track_used]);
    if (job.channels === "split") details.push(["Channels", job.channels_note || "split: one speaker per channel"]);
    if (job.speakers) details.push(["Speakers", `by voice${job.speakers.num ? ` (${job.speakers.num} asked for)` : ""}`]);
    const languages = Object.entries(job.languages || {});
    if (languages.length) {
      details.push(["Languages", languages.map(([code, s]) => `${languageName(code)} ${duration(s)}`).join(", ")]);
    }
    $("t-details").replaceChildren(...details.flatMap(([term, text]) => [el("dt", { text: term }), el("dd", { text })]));
    $("t-details").hidden = !details.length;
  }

  downloads(job, name) {
    const stem = name.replace(/\.[^.]+$/, "") || "transcript";
    for (const fmt of Object.keys(job.outputs)) {
      $("downloads").append(el("button", { class: "secondary", type: "button", "data-format": fmt,
        text: `Download ${FORMAT_NAMES[fmt] || fmt}`,
        onclick: async () => {
          try {
            const response = await call("GET", `/api/v1/transcriptions/${job.id}/transcript?format=${fmt}`, { raw: true });
            const url = URL.createObjectURL(await response.blob());
            const a = el("a", { href: url, download: `${stem}.${fmt}` });
            document.body.append(a);
            a.click();
            a.remove();
            setTimeout(() => URL.revokeObjectURL(url), 60000);
          } catch (error) {
            $("t-error").textContent = explain(error);
          }
        } }));
    }
  }

  render(segments) {
    this.segments = segments.filter((s) => s.text.trim());
    let previous = "";
    const items = this.segments.map((segment, index) => {
      const words = (segment.words && segment.words.length ? segment.words
        : [{ start: segment.start, end: segment.end, word: segment.text }]).map((w) => {
        const node = el("span", { class: "word", role: "button", tabindex: "-1", "data-start": w.start.toFixed(3),
          "data-end": w.end.toFixed(3), text: w.word.trim(), title: `${clock(w.start)} · play from here` });
        this.words.push({ node, text: normalize(w.word), segment: index });
        return node;
      });
      const text = el("p", { class: "text" });
      words.forEach((w, i) => text.append(...(i ? [" ", w] : [w])));
      text.firstChild && (text.firstChild.tabIndex = 0);
      // The speaker's label where the speaker changes ("" or absent: not known).
      const speaker = segment.speaker || "";
      const label = speaker && speaker !== previous
        ? el("p", { class: "speaker", "data-label": speaker, text: this.speakerLabel(speaker) }) : null;
      previous = speaker;
      const item = el("li", { "data-segment": index, "data-speaker": speaker || undefined },
        el("time", { datetime: `PT${segment.start.toFixed(2)}S`, "data-start": segment.start.toFixed(3) }, clock(segment.start)),
        el("div", {}, label, text));
      item.text = text;
      return item;
    });
    this.list.replaceChildren(...items);
  }

  seek(seconds, target) {
    this.video.currentTime = seconds;
    if (target && target.classList.contains("word")) target.focus({ preventScroll: true });
    this.follow();
  }

  follow() {
    const t = this.video.currentTime;
    let lo = 0, hi = this.segments.length - 1, found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (this.segments[mid].start <= t + 0.01) { found = mid; lo = mid + 1; } else hi = mid - 1;
    }
    if (found !== this.current) {
      const old = this.list.children[this.current];
      if (old) { old.classList.remove("current"); old.removeAttribute("aria-current"); }
      this.current = found;
      const now = this.list.children[found];
      if (now) {
        now.classList.add("current");
        now.setAttribute("aria-current", "true");
        keepInView(this.list, now);
      }
    }
    this.list.querySelectorAll(".word.spoken").forEach((w) => w.classList.remove("spoken"));
    const item = this.list.children[found];
    if (item) {
      for (const w of item.querySelectorAll(".word")) {
        if (Number(w.dataset.start) <= t + 0.01 && t < Number(w.dataset.end)) w.classList.add("spoken");
      }
    }
  }

  keys(e) {
    const word = e.target.closest(".word");
    if (!word) return;
    const all = this.words.map((w) => w.node);
    const i = all.indexOf(word);
    let next = null;
    if (e.key === "ArrowRight") next = all[i + 1];
    else if (e.key === "ArrowLeft") next = all[i - 1];
    else if (e.key === "Enter" || e.key === " ") { e.preventDefault(); this.seek(Number(word.dataset.start), word); return; }
    if (next) {
      e.preventDefault();
      word.tabIndex = -1;
      next.tabIndex = 0;
      next.focus();
      keepInView(this.list, next);
    }
  }

  search(query) {
    this.matches.forEach((m) => m.forEach((n) => n.classList.remove("match", "active")));
    this.matches = [];
    this.active = -1;
    const tokens = normalize(query).split(/\s+/).filter(Boolean);
    if (tokens.length) {
      for (let i = 0; i + tokens.length <= this.words.length; i++) {
        if (tokens.every((t, k) => this.words[i + k].text.includes(t))) {
          this.matches.push(tokens.map((_, k) => this.words[i + k].node));
        }
      }
    }
    this.matches.forEach((m) => m.forEach((n) => n.classList.add("match")));
    if (this.matches.length) this.step(1, false);
    else $("search-count").textContent = tokens.length ? "no matches" : "";
  }

  step(direction, seek = true) {
    if (!this.matches.length) return;
    if (this.active >= 0) this.matches[this.active].forEach((n) => n.classList.remove("active"));
    this.active = (this.active + direction + this.matches.length) % this.matches.length;
    const match = this.matches[this.active];
    match.forEach((n) => n.classList.add("active"));
    keepInView(this.list, match[0]);
    $("search-count").textContent = `${this.active + 1} of ${this.matches.length}`;
    if (seek) this.video.currentTime = Number(match[0].dataset.start);
  }
}

function normalize(text) {
  return text.toLowerCase().normalize("NFKD").replace(/[^\p{L}\p{N}\s']/gu, "").trim();
}

function keepInView(container, node) {
  const box = container.getBoundingClientRect(), r = node.getBoundingClientRect();
  if (container.scrollHeight > container.clientHeight && (r.top < box.top || r.bottom > box.bottom)) {
    container.scrollTop += r.top - box.top - container.clientHeight / 3;
  } else if (r.top < 0 || r.bottom > window.innerHeight) {
    node.scrollIntoView({ block: "center" });
  }
}

function speakerName(label) {
  return label.charAt(0).toUpperCase() + label.slice(1); // "channel 1" → "Channel 1"
}

function languageName(code) {
  try { return new Intl.DisplayNames([navigator.language || "en"], { type: "language" }).of(code) || code; } catch { return code; }
}
