// The page: sign in with an API key, then upload and follow jobs (#/) or read one
// transcript against its video (#/jobs/<id>).
import { call, explain, key } from "./api.js";
import { ChosenFiles } from "./chosen.js";
import { JobList } from "./jobs.js";
import { TranscriptView } from "./transcript.js";
import { Uploader } from "./upload.js";
import { el } from "./util.js";

const $ = (id) => document.getElementById(id);
const jobs = new JobList($("jobs"), $("jobs-empty"), $("jobs-error"), $("filter"));
const transcript = new TranscriptView();
const chosen = new ChosenFiles($("chosen"), $("chosen-summary"), $("transcribe"));
let options = null;

const uploader = new Uploader($("uploads"), () => {
  const formats = [...$("opt-formats").querySelectorAll("input:checked")].map((i) => i.value);
  const choices = { model: $("opt-model").value, task: $("opt-task").value, formats };
  const language = $("opt-language").value.trim().toLowerCase();
  if (language) choices.language = language;
  // Advanced: the form starts at the service's defaults, so what it sends is what was chosen.
  const track = $("opt-audio-track").value.trim();
  if (track) choices.audio_track = track;
  choices.channels = $("opt-channels").value;
  choices.multilingual = $("opt-multilingual").checked;
  if (options && options.speakers.enabled && $("opt-speakers").checked) {
    choices.speakers = true;
    const count = $("opt-num-speakers").valueAsNumber;
    if (Number.isInteger(count)) choices.num_speakers = count;
  }
  return choices;
}, () => jobs.refresh());

function show(section) {
  for (const id of ["signin", "home", "transcript"]) $(id).hidden = id !== section;
  $("signout").hidden = $("who").hidden = section === "signin";
}

async function signIn(candidate) {
  key.set(candidate);
  try {
    options = await call("GET", "/api/v1/options");
  } catch (error) {
    key.clear();
    throw error;
  }
  $("who").textContent = `tenant ${options.tenant}`;
  fillOptions(options);
}

function fillOptions(o) {
  $("opt-model").replaceChildren(...o.models.map((m) => el("option", { value: m, text: m, selected: m === o.default_model })));
  $("opt-task").replaceChildren(...o.tasks.map((t) => el("option", { value: t, text: t })));
  $("opt-formats").replaceChildren(el("legend", { text: "Formats" }), ...o.formats.map((f) =>
    el("label", {}, el("input", { type: "checkbox", value: f, checked: o.default_formats.includes(f) }), ` ${f}`)));
  $("opt-channels").value = o.default_channels || "mix";
  $("opt-multilingual").checked = Boolean(o.default_multilingual);
  $("opt-audio-track").placeholder = o.default_audio_track || "default";
  $("speakers-field").hidden = !o.speakers.enabled;
  Object.assign($("opt-num-speakers"), { min: o.speakers.min, max: o.speakers.max });
  $("files").accept = [...o.upload.extensions.map((e) => `.${e}`), "video/*", "audio/*"].join(",");
}

function route() {
  if (!key.get() || !options) { show("signin"); jobs.stop(); $("key").focus(); return; }
  const m = location.hash.match(/^#\/jobs\/([0-9a-f]{32})$/);
  if (m) {
    show("transcript");
    jobs.stop();
    transcript.open(m[1]);
  } else {
    show("home");
    transcript.reset();
    jobs.start();
  }
  $("main").focus({ preventScroll: true });
}

$("signin-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  $("signin-error").textContent = "";
  const button = e.submitter || $("signin-form").querySelector("button");
  button.disabled = true;
  try {
    await signIn($("key").value.trim());
    $("key").value = "";
    route();
  } catch (error) {
    $("signin-error").textContent = explain(error);
  } finally {
    button.disabled = false;
  }
});

$("signout").addEventListener("click", () => {
  key.clear();
  options = null;
  location.hash = "#/";
  route();
});

$("opt-speakers").addEventListener("change", () => { $("opt-num-speakers").disabled = !$("opt-speakers").checked; });
// Choosing or dropping files only lists them; Transcribe sends them with the options set then.
$("files").addEventListener("change", () => { chosen.add([...$("files").files]); $("files").value = ""; });
const drop = $("drop");
for (const type of ["dragenter", "dragover"]) drop.addEventListener(type, (e) => { e.preventDefault(); drop.classList.add("over"); });
for (const type of ["dragleave", "drop"]) drop.addEventListener(type, () => drop.classList.remove("over"));
drop.addEventListener("drop", (e) => { e.preventDefault(); chosen.add([...e.dataTransfer.files]); });
$("upload-form").addEventListener("submit", (e) => {
  e.preventDefault();
  $("upload-error").textContent = "";
  if (!$("upload-form").reportValidity()) return;
  const files = chosen.take();
  if (files.length) uploader.add(files);
});
window.addEventListener("hashchange", route);

(async () => {
  if (key.get()) {
    try { await signIn(key.get()); } catch (error) { $("signin-error").textContent = explain(error); }
  }
  route();
})();
