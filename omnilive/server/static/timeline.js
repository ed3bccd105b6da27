// The memory timeline: the moments the camera saw (clips, and episodes for the long term), grouped
// by hour under day headings, scrolling in its own box; search, load earlier, delete one moment.
// Each moment is a .item with data-start / data-end (memory seconds) and data-kind.
import { api } from "./link.js";
import { t, clock, dayName } from "./i18n.js";

const PAGE = 60;
export const ICONS = { speech: "“", sound: "♪", note: "✎" };  // in the fonts every Debian desktop has

export class Timeline {
  constructor(box, { viewer, onForget }) {
    this.box = box;
    this.viewer = viewer;
    this.onForget = onForget;
    this.origin = null;
    this.searching = false;
    this.box.addEventListener("click", (e) => this._click(e));
  }

  clockOf(start) { return clock(this.origin, start); }

  _group(start) {
    const key = this.origin == null ? "stream" : String(Math.floor((this.origin + start) / 3600));
    let g = [...this.box.querySelectorAll(".group")].find((el) => el.dataset.key === key);
    if (g) return g;
    g = document.createElement("section");
    g.className = "group";
    g.dataset.key = key;
    g.dataset.start = start;
    g.appendChild(document.createElement("h3"));
    this._label(g);
    const items = document.createElement("div");
    items.className = "items";
    g.appendChild(items);
    const later = [...this.box.querySelectorAll(".group")].find((el) => +el.dataset.start > start);
    this.box.insertBefore(g, later || null);
    return g;
  }

  _label(group) {
    if (this.origin == null) return;
    const d = new Date((this.origin + +group.dataset.start) * 1000);
    d.setMinutes(0, 0, 0);
    group.querySelector("h3").textContent = `${dayName(d)} ${clock(0, d.getTime() / 1000)}`;
  }

  relabel() { this.box.querySelectorAll(".group").forEach((g) => this._label(g)); }

  // Something heard (memory/heard.py): background talk, a sound, a note. What the user asked and
  // what omnilive answered are in the conversation, not here.
  addHeard(h) {
    if (this.searching && !h.found) return;
    if (h.speaker === "assistant" || (h.kind === "speech" && h.speaker === "user")) return;
    this.box.querySelector(".empty")?.remove();
    const old = this.box.querySelector(`.item[data-kind=heard][data-id="${h.id}"]`);
    if (old) old.remove();  // a sound that went on: its item grows
    const items = this._group(h.start).querySelector(".items");
    const fig = document.createElement("figure");
    fig.className = `item heard ${h.kind}`;
    Object.assign(fig.dataset, { start: h.start, end: h.end, kind: "heard", heard: h.kind, id: h.id, label: h.text });
    const words = h.kind === "sound" ? "span" : "q";  // what was said is quoted; a sound is named
    fig.innerHTML = `<div class="card"><span class="icon"></span><${words} class="words"></${words}></div>
      <figcaption><time></time> <span></span></figcaption>
      <button class="forget" type="button" aria-label="delete">×</button>`;
    fig.querySelector(".icon").textContent = ICONS[h.kind] || "";
    fig.querySelector(".words").textContent = h.text;
    fig.querySelector("time").textContent = clock(this.origin, h.start);
    const who = h.kind === "speech" && h.voice_name ? ` · ${h.voice_name === "you" ? t("you") : h.voice_name}` : "";
    fig.querySelector("figcaption span").textContent = t(`heard.${h.kind}`) + who;
    fig.querySelector(".forget").title = t("del");
    const later = [...items.children].find((el) => +el.dataset.start > h.start);
    items.insertBefore(fig, later || null);
  }

  add(c) {
    if (this.searching) return;
    this.box.querySelector(".empty")?.remove();
    const dup = this.box.querySelector(`.item[data-kind=seen][data-start="${c.start}"]`);
    if (dup) return;
    const items = this._group(c.start).querySelector(".items");
    const fig = document.createElement("figure");
    fig.className = "item";
    Object.assign(fig.dataset, { start: c.start, end: c.end, kind: c.kind || "seen", label: (c.names || [])[0] || "" });
    const span = (c.n_clips || 1) > 1 ? `–${clock(this.origin, c.end)}` : "";
    fig.innerHTML = `<img alt="" loading="lazy"><figcaption><time></time> <span></span></figcaption>
      <button class="forget" type="button" data-i18n-title="del" aria-label="delete">×</button>`;
    fig.querySelector("img").src = c.keyframe;
    fig.querySelector("time").textContent = clock(this.origin, c.start) + span;
    fig.querySelector("figcaption span").textContent = [...new Set(c.names || c.labels || [])].slice(0, 2).join(", ");
    fig.querySelector(".forget").title = t("del");
    const later = [...items.children].find((el) => +el.dataset.start > c.start);
    items.insertBefore(fig, later || null);
  }

  empty(message) {
    if (this.box.querySelector(".item")) return;
    this.box.querySelector(".empty")?.remove();
    const p = document.createElement("p");
    p.className = "empty";
    p.textContent = message || t("emptyMemory");
    this.box.appendChild(p);
  }

  // The latest moments (or the page before the earliest shown), from the server.
  async load({ earlier = false } = {}) {
    const first = this.box.querySelector(".item");
    const before = earlier && first ? `&before=${first.dataset.start}` : "";
    const r = await api(`/api/memory?k=${PAGE}${before}`);
    this.origin = r.clock_origin;
    if (!earlier) this.box.replaceChildren();
    r.clips.forEach((c) => this.add(c));
    const from = r.clips.length === PAGE ? r.clips[0].start : -Infinity;  // heard items of the same span
    (r.heard || []).filter((h) => h.start >= from).forEach((h) => this.addHeard(h));
    this.box.querySelector(".more")?.remove();
    if (r.clips.length === PAGE) {
      const more = document.createElement("button");
      more.className = "more";
      more.type = "button";
      more.textContent = t("loadEarlier");
      this.box.prepend(more);
    }
    this.empty();
    if (!earlier) this.box.scrollTop = this.box.scrollHeight;
  }

  async search(q) {
    if (!q) { this.searching = false; return this.load(); }
    const r = await api(`/api/memory?k=12&q=${encodeURIComponent(q)}`);
    this.searching = false;
    this.box.replaceChildren();
    const h = document.createElement("p");
    h.className = "results";
    h.textContent = t("results", q);
    this.box.appendChild(h);
    r.clips.sort((a, b) => a.start - b.start).forEach((c) => this.add(c));
    (r.heard || []).forEach((h) => this.addHeard({ ...h, found: true }));
    this.searching = true;  // live clips wait until the search is cleared
    this.empty(t("noResults", q));
  }

  remove(start, end) {
    this.box.querySelectorAll(".item").forEach((el) => {
      if (+el.dataset.end >= start && +el.dataset.start <= end) el.remove();
    });
    this.box.querySelectorAll(".group").forEach((g) => { if (!g.querySelector(".item")) g.remove(); });
    this.empty();
  }

  _click(e) {
    const item = e.target.closest(".item");
    if (e.target.classList.contains("more")) return this.load({ earlier: true });
    if (!item) return;
    if (e.target.classList.contains("forget")) return this.onForget(+item.dataset.start, +item.dataset.end);
    if (item.dataset.kind === "seen") this.viewer(item.querySelector("img").src, item.querySelector("figcaption").textContent);
  }
}
