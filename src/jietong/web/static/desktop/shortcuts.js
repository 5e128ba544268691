// Keyboard shortcuts of the desk. Alt-based, so they never fight with typing in the
// composer; Ctrl+Enter sends. `describe` lists them for the help panel.

export const SHORTCUTS = [
  { keys: "Alt+A", action: "accept", label: "desk.shortcut.accept" },
  { keys: "Alt+D", action: "decline", label: "desk.shortcut.decline" },
  { keys: "Alt+E", action: "end", label: "desk.shortcut.end" },
  { keys: "Alt+T", action: "transfer", label: "desk.shortcut.transfer" },
  { keys: "Alt+K", action: "case", label: "desk.shortcut.case" },
  { keys: "Alt+N", action: "note", label: "desk.shortcut.note" },
  { keys: "Alt+R", action: "reply", label: "desk.shortcut.reply" },
  { keys: "Alt+S", action: "status", label: "desk.shortcut.status" },
  { keys: "Alt+ArrowDown", action: "next", label: "desk.shortcut.next" },
  { keys: "Alt+ArrowUp", action: "previous", label: "desk.shortcut.previous" },
  { keys: "Alt+1…9", action: "tab", label: "desk.shortcut.tab" },
  { keys: "Ctrl+Enter", action: "send", label: "desk.shortcut.send" },
];

/** The action of a keydown event, or null. Pure: takes {key, code, altKey, ctrlKey, metaKey}. */
export function actionOf(event) {
  if ((event.ctrlKey || event.metaKey) && event.key === "Enter") return { action: "send" };
  if (!event.altKey || event.ctrlKey || event.metaKey) return null;
  // event.code is layout-independent (Alt+letter types special characters on macOS).
  const digit = /^Digit([1-9])$/.exec(event.code || "");
  if (digit) return { action: "tab", index: Number(digit[1]) - 1 };
  const byCode = { KeyA: "accept", KeyD: "decline", KeyE: "end", KeyT: "transfer", KeyK: "case", KeyN: "note", KeyR: "reply", KeyS: "status" };
  if (byCode[event.code]) return { action: byCode[event.code] };
  if (event.key === "ArrowDown") return { action: "next" };
  if (event.key === "ArrowUp") return { action: "previous" };
  return null;
}
