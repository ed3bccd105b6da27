// What the page received and played, in order (for automation and debugging): window.omniliveLog.
window.omniliveLog = [];
export const note = (type, turn) => window.omniliveLog.push({ type, turn, at: performance.now() });
