// The page's words in English and Chinese. Elements carry data-i18n (text) or data-i18n-placeholder;
// code asks t("key", arg0, ...). The choice is kept in localStorage; the default follows the browser.
const STRINGS = {
  en: {
    start: "Start", stop: "Stop", ask: "Ask", askPlaceholder: "Type a question…",
    conversation: "Conversation", memory: "Memory", searchPlaceholder: "Search memory…", clear: "Clear",
    settings: "Settings", close: "Close", spoken: "Spoken answers", answerLanguage: "Answer language",
    langAuto: "Same as the question", langEn: "English", langZh: "Chinese (中文)", camera: "Camera",
    mic: "Microphone", deviceDefault: "Default", pageLanguage: "Page language", newMemory: "New memory",
    forgetAll: "Forget everything", yes: "Yes", cancel: "Cancel", del: "Delete", you: "You",
    typed: "typed", background: "background talk, not for the assistant", loadEarlier: "Load earlier",
    today: "Today", yesterday: "Yesterday", clips: "{0} clips", fromMemory: "From memory",
    emptyConversation: "Ask something aloud after Start, or type a question below.",
    emptyMemory: "Nothing remembered yet: after Start, what the camera sees appears here.",
    noResults: "Nothing in memory matches “{0}”.", results: "Moments matching “{0}”",
    "status.idle": "Press Start to begin", "status.connecting": "Connecting…", "status.listening": "Listening",
    "status.hearing": "Hearing you", "status.thinking": "Thinking…", "status.speaking": "Speaking",
    "status.answering": "Answering", "status.paused": "Paused: hearing you", "status.reconnecting": "Reconnecting…",
    "status.offline": "Offline: the server cannot be reached", "status.stopped": "Stopped",
    "status.text": "Ready for typed questions", "status.elsewhere": "Open in another tab",
    "state.answering": "answering", "state.speaking": "speaking", "state.interrupted": "interrupted",
    "state.stopped": "stopped", "state.answered": "", "state.thinking": "thinking…",
    staleToken: "This browser's earlier memory is no longer on this server.", startNew: "Start a new memory",
    busy: "omnilive is already open in another tab or window.", takeOver: "Use it here",
    takenOver: "This session is now open in another tab or window.", full: "The server is full right now; try again in a minute.",
    forbidden: "This page may not connect to this server (see server.allowed_origins).",
    mediaFailed: "The camera or microphone could not be opened ({0}). Typed questions still work.",
    confirmForget: "Forget everything omnilive saw and heard here? This cannot be undone.",
    confirmNew: "Start a new, empty memory? The current one is deleted for good.",
    confirmDelete: "Delete this moment from memory?", forgotten: "Forgotten: {0} moments.",
    failed: "Something went wrong: {0}", notConnected: "Not connected yet: press Start, or wait while it reconnects.",
    micLevel: "Microphone level", speaking: "speaking",
    "heard.speech": "heard", "heard.sound": "sound", "heard.note": "note",
    confirmForgetRecent: "Forget everything from the last 5 minutes?",
    alert: "You asked me to watch for this: {0} ({1}).",
    watching: "Watching for", unwatch: "Stop watching for {0}",
    "watch.seen": "see: {0}", "watch.sound": "hear: {0}", "watch.words": "words: “{0}”", "watch.text": "text: “{0}”",
    watchUntil: "(until {0})",
    memoryOn: "Memory on", memoryPaused: "Memory paused", forgetRecent: "Forget the last 5 minutes",
    enrol: "This is my voice", enrolNow: "Say a sentence or two now: omnilive will know your voice as the owner's.",
    pausedNote: "Memory is paused: omnilive still sees, hears and answers, but keeps nothing.",
  },
  zh: {
    start: "开始", stop: "停止", ask: "提问", askPlaceholder: "输入问题…",
    conversation: "对话", memory: "记忆", searchPlaceholder: "搜索记忆…", clear: "清除",
    settings: "设置", close: "关闭", spoken: "语音回答", answerLanguage: "回答语言",
    langAuto: "与提问相同", langEn: "英语 (English)", langZh: "中文", camera: "摄像头",
    mic: "麦克风", deviceDefault: "默认", pageLanguage: "页面语言", newMemory: "新建记忆",
    forgetAll: "全部忘记", yes: "确定", cancel: "取消", del: "删除", you: "你",
    typed: "输入", background: "背景谈话，不是对助手说的", loadEarlier: "加载更早的",
    today: "今天", yesterday: "昨天", clips: "{0} 个片段", fromMemory: "来自记忆",
    emptyConversation: "按“开始”后直接提问，或在下面输入问题。",
    emptyMemory: "还没有记忆：按“开始”后，摄像头看到的内容会出现在这里。",
    noResults: "记忆中没有与“{0}”相符的内容。", results: "与“{0}”相符的时刻",
    "status.idle": "按“开始”", "status.connecting": "正在连接…", "status.listening": "正在听",
    "status.hearing": "听到你在说话", "status.thinking": "正在思考…", "status.speaking": "正在说话",
    "status.answering": "正在回答", "status.paused": "已暂停：在听你说", "status.reconnecting": "正在重新连接…",
    "status.offline": "离线：无法连接服务器", "status.stopped": "已停止",
    "status.text": "可以输入问题", "status.elsewhere": "已在另一个标签页打开",
    "state.answering": "回答中", "state.speaking": "说话中", "state.interrupted": "被打断",
    "state.stopped": "已停止", "state.answered": "", "state.thinking": "思考中…",
    staleToken: "这个浏览器之前的记忆已不在此服务器上。", startNew: "新建记忆",
    busy: "omnilive 已在另一个标签页或窗口中打开。", takeOver: "在这里使用",
    takenOver: "此会话已在另一个标签页或窗口中打开。", full: "服务器已满，请一分钟后再试。",
    forbidden: "此页面不能连接到这个服务器（见 server.allowed_origins）。",
    mediaFailed: "无法打开摄像头或麦克风（{0}）。仍可输入问题。",
    confirmForget: "忘记 omnilive 在这里看到和听到的一切？此操作无法撤销。",
    confirmNew: "新建一个空的记忆？当前的记忆将被永久删除。",
    confirmDelete: "从记忆中删除这个时刻？", forgotten: "已忘记 {0} 个时刻。",
    failed: "出错了：{0}", notConnected: "尚未连接：请按“开始”，或等待重新连接。",
    micLevel: "麦克风音量", speaking: "说话中",
    "heard.speech": "听到的话", "heard.sound": "声音", "heard.note": "笔记",
    confirmForgetRecent: "忘掉最近 5 分钟的一切？",
    alert: "你让我留意的：{0}（{1}）。",
    watching: "正在留意", unwatch: "不再留意{0}",
    "watch.seen": "看到：{0}", "watch.sound": "听到：{0}", "watch.words": "提到：“{0}”", "watch.text": "文字：“{0}”",
    watchUntil: "（到 {0}）",
    memoryOn: "记忆开启", memoryPaused: "记忆已暂停", forgetRecent: "忘掉最近 5 分钟",
    enrol: "这是我的声音", enrolNow: "现在请说一两句话：omnilive 会把你的声音记为主人的声音。",
    pausedNote: "记忆已暂停：omnilive 仍然能看、能听、能回答，但什么都不保存。",
  },
};

const KEY = "omniliveLanguage";
let lang = localStorage.getItem(KEY) || ((navigator.language || "en").toLowerCase().startsWith("zh") ? "zh" : "en");

export const language = () => lang;

export function t(key, ...args) {
  const s = (STRINGS[lang] && STRINGS[lang][key]) ?? STRINGS.en[key] ?? key;
  return s.replace(/\{(\d)\}/g, (_, i) => args[+i] ?? "");
}

export function setLanguage(next) {
  lang = STRINGS[next] ? next : "en";
  localStorage.setItem(KEY, lang);
  apply();
}

export function apply(root = document) {
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
  root.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
  root.querySelectorAll("[data-i18n-placeholder]").forEach((el) => { el.placeholder = t(el.dataset.i18nPlaceholder); });
  root.querySelectorAll("[data-i18n-title]").forEach((el) => { el.title = t(el.dataset.i18nTitle); });
}

// A clock time for a memory time (seconds on the memory's timeline), given its wall-clock origin.
export function clock(origin, seconds, withDay = false) {
  if (origin == null) {  // recorded files: no wall clock, the stream time
    const s = Math.max(0, Math.round(seconds));
    return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
  }
  const d = new Date((origin + seconds) * 1000);
  const hm = d.toLocaleTimeString(lang === "zh" ? "zh-CN" : "en-GB", { hour: "2-digit", minute: "2-digit" });
  return withDay ? `${dayName(d)} ${hm}` : hm;
}

export function dayName(d) {
  const today = new Date();
  const yesterday = new Date(Date.now() - 86400e3);
  if (d.toDateString() === today.toDateString()) return t("today");
  if (d.toDateString() === yesterday.toDateString()) return t("yesterday");
  return d.toLocaleDateString(lang === "zh" ? "zh-CN" : "en-GB", { weekday: "short", day: "numeric", month: "short" });
}
