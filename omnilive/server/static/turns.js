// The page's state of every turn, in one place: `reduce(turns, event)` applies one server event (or
// one playback event) to it and returns the ids of the turns it changed; the conversation view
// (conversation.js) renders those turns from this state, and the status line reads it. Nothing
// else keeps a turn's state.
//
// A turn: { id, wall, heard, tags, live, source, background, reply: null | { text, state, clips,
// heardClips } , cut: null | "interrupted" | "stopped", pending: null | final state }.
// reply.state: thinking -> answering -> speaking -> answered | interrupted | stopped.
// An answer fully written while its audio still plays is `pending` until the audio has played.

export const FINAL = ["answered", "interrupted", "stopped"];

export class Turns {
  constructor() {
    this.map = new Map();  // turn id -> turn (insertion order: the conversation's order)
    this.playing = null;  // the turn whose audio is playing now
  }

  get(id) { return this.map.get(id); }

  // The turn, made when first heard of.
  _turn(id, wall = Date.now() / 1000) {
    let turn = this.map.get(id);
    if (!turn) {
      turn = { id, wall, heard: "", tags: [], live: false, source: "", background: false, reply: null, cut: null,
               pending: null };
      this.map.set(id, turn);
    }
    return turn;
  }

  _reply(turn) {
    if (!turn.reply) turn.reply = { text: "", state: "thinking", clips: [], heardClips: [] };
    return turn.reply;
  }

  // Sets a reply's state; a finished turn only changes to another final state (a cut reported late).
  _state(turn, state) {
    const reply = this._reply(turn);
    if (FINAL.includes(reply.state) && !FINAL.includes(state)) return;
    reply.state = state;
  }

  // Applies a server event; returns [changed turn ids, removed turn ids].
  reduce(ev) {
    const changed = [], removed = [];
    const touch = (id) => { changed.push(id); return this._turn(id); };
    switch (ev.type) {
      case "speech_started":  // live items that never got a transcript (a cough, an echo) go
        for (const [id, turn] of this.map) if (turn.live && id !== ev.turn_id) { this.map.delete(id); removed.push(id); }
        break;
      case "transcript_partial": {
        const turn = touch(ev.turn_id);
        turn.live = true;
        turn.heard = `${ev.text} …`;
        break;
      }
      case "utterance": {
        if (ev.joins !== null && ev.joins !== undefined && this.map.delete(ev.joins)) removed.push(ev.joins);
        const turn = touch(ev.turn_id);
        Object.assign(turn, { live: false, heard: ev.text, tags: (ev.tags || []).map((x) => x.label),
                              source: ev.source, background: !ev.for_assistant && !ev.command,
                              voiceId: ev.voice || 0, voice: ev.voice_name || "" });
        // a voice named or enrolled since ("that was Anna"): its earlier turns are called so too
        for (const other of this.map.values())
          if (ev.voice && other.voiceId === ev.voice && other.voice !== ev.voice_name) {
            other.voice = ev.voice_name;
            changed.push(other.id);
          }
        if (ev.for_assistant && !ev.command) this._state(turn, "thinking");
        break;
      }
      case "grounding": {
        const reply = this._reply(touch(ev.turn_id));
        reply.clips = ev.clips || [];
        reply.heardClips = ev.heard || [];
        break;
      }
      case "answer_delta": {
        const turn = touch(ev.turn_id);
        const reply = this._reply(turn);
        reply.text += ev.text;
        if (reply.state === "thinking") this._state(turn, "answering");
        break;
      }
      case "answer": {
        if (!ev.text && !ev.interrupted) break;
        const turn = touch(ev.turn_id);
        const final = ev.interrupted ? turn.cut || "interrupted" : "answered";
        if (turn.cut) this._state(turn, turn.cut);  // cut while it was played: stays cut
        else if (final === "answered" && this.playing === ev.turn_id) turn.pending = final;
        else this._state(turn, final);
        break;
      }
      case "interrupt": {  // (also an answer fully written but still being played)
        if (ev.cancelled_turn === null || ev.cancelled_turn === undefined) break;
        const turn = this.map.get(ev.cancelled_turn);
        if (!turn) break;
        changed.push(turn.id);
        // a stop the speaker went on with is reported again as an interruption by their question
        turn.cut = ev.reason === "command" ? "stopped" : "interrupted";
        turn.pending = null;
        if (turn.reply) this._state(turn, turn.cut);
        if (this.playing === turn.id) this.playing = null;
        break;
      }
    }
    return [changed, removed];
  }

  // Playback: `turn` started playing (or null: nothing plays any more). Returns the changed ids.
  played(turn) {
    const changed = [];
    if (turn !== null && turn !== undefined) {
      const t = this.map.get(turn);
      if (t && t.reply && !t.cut) { this._state(t, "speaking"); changed.push(turn); }
    } else {
      for (const t of this.map.values()) {  // answers whose audio has now played out
        if (t.pending) { this._state(t, t.pending); t.pending = null; changed.push(t.id); }
      }
    }
    this.playing = turn ?? null;
    return changed;
  }

  // What the status line shows besides the link and the player: "answering" or "thinking".
  activity() {
    let thinking = false;
    for (const t of this.map.values()) {
      if (!t.reply || t.cut) continue;
      if (t.reply.state === "answering") return "answering";
      if (t.reply.state === "thinking") thinking = true;
    }
    return thinking ? "thinking" : null;
  }

  // The link dropped: nothing is being thought about or answered on it any more.
  settle() {
    const changed = [];
    for (const t of this.map.values()) {
      if (t.reply && !FINAL.includes(t.reply.state)) { t.reply.state = t.cut || "interrupted"; changed.push(t.id); }
    }
    this.playing = null;
    return changed;
  }

  // Turns from /api/history, oldest first, before those of the live connection.
  restore(rows) {
    const live = [...this.map].filter(([id]) => !String(id).startsWith("h"));
    this.map.clear();
    for (const row of rows) {
      const turn = this._turn(`h${row.id}`, row.wall);
      Object.assign(turn, { heard: row.heard, source: row.source, background: row.state === "heard" });
      if (row.state === "heard" || !row.for_assistant) continue;
      turn.reply = { text: row.answer, state: row.state, clips: row.grounding.filter((g) => !g.kind),
                     heardClips: row.grounding.filter((g) => g.kind) };
    }
    for (const [id, turn] of live) this.map.set(id, turn);
  }

  clear() { this.map.clear(); this.playing = null; }
}
