// The conversation: one .turn per turn, holding .heard (live words, then the transcript) and .reply
// (the answer as it streams, its data-state, and the moments it was grounded on).
import { t, clock } from "./i18n.js";
import { ICONS } from "./timeline.js";

const hm = (wall) => clock(0, wall);  // a wall-clock time as the page shows times

export class Conversation {
  constructor(box, viewer, keyframe) {
    this.box = box;
    this.viewer = viewer;  // (src, caption) => shows a key frame large
    this.keyframe = keyframe;  // memory time => Promise<image URL> (thumbnails of restored turns)
    this.turns = new Map();  // turn id -> element
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

  _item(id, wall = Date.now() / 1000) {
    let el = this.turns.get(id);
    if (el) return el;
    this.box.querySelector(".empty")?.remove();
    el = document.createElement("article");
    el.className = "turn";
    el.dataset.turn = id;
    el.innerHTML = `<div class="heard"><div class="meta"><span class="who" data-i18n="you"></span> <time></time>
      <span class="tag"></span></div><p class="text"></p></div>`;
    el.querySelector(".who").textContent = t("you");
    el.querySelector("time").textContent = hm(wall);
    this.turns.set(id, el);
    const stick = this.box.scrollHeight - this.box.scrollTop - this.box.clientHeight < 40;
    this.box.appendChild(el);
    if (stick) this.box.scrollTop = this.box.scrollHeight;
    return el;
  }

  _reply(id) {
    const el = this._item(id);
    let reply = el.querySelector(".reply");
    if (!reply) {
      reply = document.createElement("div");
      reply.className = "reply";
      reply.innerHTML = `<div class="meta"><span class="who">omnilive</span> <span class="state"></span></div>
        <p class="text"></p><div class="grounds"></div>`;
      el.appendChild(reply);
    }
    return reply;
  }

  remove(id) {
    this.turns.get(id)?.remove();
    this.turns.delete(id);
    this.empty();
  }

  // Live items that never got a transcript (a cough, the assistant's own echo) go when speech starts again.
  dropLive(except) {
    for (const [id, el] of this.turns) if (el.classList.contains("live") && id !== except) this.remove(id);
  }

  _tag(el, key) {
    const tag = el.querySelector(".tag");
    if (key) tag.dataset.i18n = key; else delete tag.dataset.i18n;
    tag.textContent = key ? t(key) : "";
  }

  partial(id, text) {
    const el = this._item(id);
    el.classList.add("live");
    el.querySelector(".heard .text").textContent = `${text} …`;
  }

  heard(utt) {
    if (utt.joins !== null && utt.joins !== undefined) this.remove(utt.joins);  // the speaker went on: one turn
    const el = this._item(utt.turn_id);
    el.classList.remove("live");
    const tags = (utt.tags || []).map((x) => `[${x.label}] `).join("");
    el.querySelector(".heard .text").textContent = tags + utt.text;
    el.dataset.source = utt.source;
    const background = !utt.for_assistant && !utt.command;
    el.classList.toggle("background", background);
    this._tag(el, background ? "background" : utt.source === "typed" ? "typed" : null);
    if (!background && utt.for_assistant) this.state(utt.turn_id, "thinking");
  }

  delta(id, text) {
    const reply = this._reply(id);
    reply.querySelector(".text").textContent += text;
    if (reply.dataset.state === "thinking") this.state(id, "answering");
  }

  state(id, state) {
    const reply = this._reply(id);
    const final = ["answered", "interrupted", "stopped"];
    if (final.includes(reply.dataset.state) && !final.includes(state)) return;  // late news of a finished turn
    reply.dataset.state = state;
    const label = reply.querySelector(".state");
    label.dataset.i18n = `state.${state}`;
    label.textContent = t(`state.${state}`);
  }

  grounding(id, clips, origin, clockOf, heard = []) {
    const box = this._reply(id).querySelector(".grounds");
    box.replaceChildren();
    for (const h of heard) {  // what was said or sounded that the answer quotes
      const chip = document.createElement("span");
      chip.className = `heard-chip ${h.kind}`;
      chip.textContent = `${clockOf(h.start)} ${ICONS[h.kind] || ""} ${h.text}`;
      box.appendChild(chip);
    }
    for (const c of clips) {
      const fig = document.createElement("figure");
      fig.innerHTML = `<img alt=""><figcaption></figcaption>`;
      const caption = `${clockOf(c.start)} ${c.label ?? (c.names || c.labels || [])[0] ?? ""}`.trim();
      fig.querySelector("figcaption").textContent = caption;
      fig.title = t("fromMemory");
      const img = fig.querySelector("img");
      if (c.keyframe) img.src = c.keyframe;
      else this.keyframe(c.start).then((src) => { if (src) img.src = src; else fig.remove(); });
      fig.onclick = () => this.viewer(img.src, caption);
      box.appendChild(fig);
    }
  }

  // Turns from /api/history, oldest first (times already on the memory's timeline).
  restore(rows, clockOf) {
    for (const row of rows) {
      const id = `h${row.id}`;
      const el = this._item(id, row.wall);
      el.querySelector(".heard .text").textContent = row.heard;
      el.dataset.source = row.source;
      this._tag(el, row.state === "heard" ? "background" : row.source === "typed" ? "typed" : null);
      if (row.state === "heard") {
        el.classList.add("background");
        continue;
      }
      if (!row.for_assistant) continue;
      this._reply(id).querySelector(".text").textContent = row.answer;
      this.state(id, row.state);
      const seen = row.grounding.filter((g) => !g.kind), heard = row.grounding.filter((g) => g.kind);
      if (row.grounding.length) this.grounding(id, seen, null, clockOf, heard);
    }
    this.box.scrollTop = this.box.scrollHeight;
  }
}
