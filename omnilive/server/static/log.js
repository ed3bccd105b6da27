// What the page received and played, in order (for automation and debugging): window.omniliveLog.
window.omniliveLog = [];
export const note = (type, turn, detail = undefined) =>
  window.omniliveLog.push({ type, turn, at: performance.now(), ...(detail ? { detail } : {}) });

// The part of an event worth keeping in the log (why a turn ended as it did).
export const detailOf = (ev) => ({
  utterance: { text: ev.text, joins: ev.joins, command: ev.command, for_assistant: ev.for_assistant },
  interrupt: { reason: ev.reason },
  answer: { interrupted: ev.interrupted },
}[ev.type]);
