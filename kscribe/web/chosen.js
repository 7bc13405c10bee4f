// The files chosen (or dropped) for the next transcription: listed with their sizes, each
// removable, and sent only when the user presses Transcribe.
import { bytes, el } from "./util.js";

export class ChosenFiles {
  constructor(list, summary, button) {
    Object.assign(this, { list, summary, button, files: [] });
  }

  add(files) {
    for (const file of files) {
      // The same file chosen twice is one file.
      if (this.files.some((f) => f.name === file.name && f.size === file.size && f.lastModified === file.lastModified)) continue;
      this.files.push(file);
    }
    this.render();
  }

  remove(file) {
    this.files = this.files.filter((f) => f !== file);
    this.render();
  }

  // The files to send now; the list starts empty again.
  take() {
    const files = this.files;
    this.files = [];
    this.render();
    return files;
  }

  render() {
    this.list.replaceChildren(...this.files.map((file) => el("li", { "data-file": file.name },
      el("span", { class: "name", text: file.name }),
      el("span", { class: "muted", text: bytes(file.size) }),
      el("button", { class: "ghost remove", type: "button", text: "Remove", "aria-label": `Remove ${file.name}`,
        onclick: () => this.remove(file) }))));
    const n = this.files.length;
    this.button.disabled = n === 0;
    this.button.textContent = n > 1 ? `Transcribe ${n} files` : "Transcribe";
    this.summary.textContent = n === 0 ? "Choose one or more files first."
      : `${n} file${n > 1 ? "s" : ""} ready: check the options, then press Transcribe.`;
  }
}
