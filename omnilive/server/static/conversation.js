// The conversation view: one .turn per turn, holding .heard (live words, then the transcript) and
// .reply (the answer as it streams, its data-state, and the moments it was grounded on). It keeps
// no state of its own: `render(turn)` draws a turn from its state in turns.js.
import { t, clock } from "./i18n.js";
import { ICONS } from "./timeline.js";

const hm = (wall) => clock(0, wall);  // a wall-clock time as the page shows times

export class Conversation {
  constructor(box, viewer, keyframe, clockOf) {
    this.box = box;
    this.viewer = viewer;  // (src, caption) => shows a key frame large
    this.keyframe = keyframe;  // memory time => Promise<image URL> (thumbnails without an inline key frame)
    this.clockOf = clockOf;  // memory time => clock time as the page shows it
    this.els = new Map();  // turn id -> element
    this.empty();
  }

  empty() {
    if (!this.box.querySelector(".turn") && !this.box.querySelector(".empty")) {
      const p = document.createElement("p");
      p.className = "empty";
      p.dataset.i18n = "emptyConversation";
      p.textContent = t("emptyConversation");
      this.box.appendChild(p);
    }
  }

  clear() {
    this.box.replaceChildren();
    this.els.clear();
    this.empty();
  }

  remove(id) {
    this.els.get(id)?.remove();
    this.els.delete(id);
    this.empty();
  }

  _element(turn) {
    let el = this.els.get(turn.id);
    if (el) return el;
    this.box.querySelector(".empty")?.remove();
    el = document.createElement("article");
    el.className = "turn";
    el.dataset.turn = turn.id;
    el.innerHTML = `<div class="heard"><div class="meta"><span class="who" data-i18n="you"></span> <time></time>
      <span class="tag"></span></div><p class="text"></p></div>`;
    el.querySelector(".who").textContent = t("you");
    el.querySelector("time").textContent = hm(turn.wall);
    this.els.set(turn.id, el);
    const stick = this.box.scrollHeight - this.box.scrollTop - this.box.clientHeight < 40;
    this.box.appendChild(el);
    if (stick) this.box.scrollTop = this.box.scrollHeight;
    return el;
  }

  // Draws turn `turn` (turns.js) as it is now.
  render(turn) {
    const el = this._element(turn);
    el.classList.toggle("live", turn.live);
    el.classList.toggle("background", turn.background);
    // who spoke, where the voice is known: "you" for the enrolled owner, "Anna", "speaker 2"
    const who = el.querySelector(".who");
    if (turn.voice && turn.voice !== "you") { who.textContent = turn.voice; delete who.dataset.i18n; }
    else if (!who.dataset.i18n) { who.dataset.i18n = "you"; who.textContent = t("you"); }
    el.querySelector(".heard .text").textContent = turn.tags.map((x) => `[${x}] `).join("") + turn.heard;
    if (turn.source) el.dataset.source = turn.source;
    const tag = el.querySelector(".tag");
    const key = turn.background ? "background" : turn.source === "typed" ? "typed" : null;
    if (key) tag.dataset.i18n = key; else delete tag.dataset.i18n;
    tag.textContent = key ? t(key) : "";
    if (turn.reply) this._renderReply(el, turn.reply);
  }

  _renderReply(el, reply) {
    let box = el.querySelector(".reply");
    if (!box) {
      box = document.createElement("div");
      box.className = "reply";
      box.innerHTML = `<div class="meta"><span class="who">omnilive</span> <span class="state"></span></div>
        <p class="text"></p><div class="grounds"></div>`;
      el.appendChild(box);
    }
    box.querySelector(".text").textContent = reply.text;
    box.dataset.state = reply.state;
    const label = box.querySelector(".state");
    label.dataset.i18n = `state.${reply.state}`;
    label.textContent = t(`state.${reply.state}`);
    if (box._clips !== reply.clips || box._heard !== reply.heardClips) {  // thumbnails only when they change
      box._clips = reply.clips;
      box._heard = reply.heardClips;
      this._grounds(box.querySelector(".grounds"), reply.clips, reply.heardClips);
    }
  }

  _grounds(box, clips, heard) {
    box.replaceChildren();
    for (const h of heard) {  // what was said or sounded that the answer quotes
      const chip = document.createElement("span");
      chip.className = `heard-chip ${h.kind}`;
      chip.textContent = `${this.clockOf(h.start)} ${ICONS[h.kind] || ""} ${h.text}`;
      box.appendChild(chip);
    }
    for (const c of clips) {
      const fig = document.createElement("figure");
      fig.innerHTML = `<img alt=""><figcaption></figcaption>`;
      const caption = `${this.clockOf(c.start)} ${c.label ?? (c.names || c.labels || [])[0] ?? ""}`.trim();
      fig.querySelector("figcaption").textContent = caption;
      fig.title = t("fromMemory");
      const img = fig.querySelector("img");
      if (c.keyframe) img.src = c.keyframe;
      else this.keyframe(c.start).then((src) => { if (src) img.src = src; else fig.remove(); });
      fig.onclick = () => this.viewer(img.src, caption);
      box.appendChild(fig);
    }
  }

  // Redraws every turn in `turns` order (after a history restore).
  renderAll(turns) {
    this.clear();
    for (const turn of turns.map.values()) this.render(turn);
    this.box.scrollTop = this.box.scrollHeight;
  }
}
