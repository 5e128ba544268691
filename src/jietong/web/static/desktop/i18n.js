// Messages and dates for the screens. The page embeds the catalogue entries its scripts
// use (a JSON data block, so the CSP needs no inline script); times are shown in the
// user's own time zone with the platform's Intl, never the browser machine's zone.

export function createI18n({ locale, timezone, messages }) {
  const timeFormat = new Intl.DateTimeFormat(locale, {
    timeZone: timezone,
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
    hourCycle: "h23",
  });
  const dateTimeFormat = new Intl.DateTimeFormat(locale, {
    timeZone: timezone,
    year: "numeric",
    month: "2-digit",
    day: "2-digit",
    hour: "2-digit",
    minute: "2-digit",
    hourCycle: "h23",
  });
  const percent = new Intl.NumberFormat(locale, { style: "percent", maximumFractionDigits: 0 });

  /** The message for `key` with {placeholders} filled; the key itself if unknown. */
  function t(key, values = {}) {
    const message = messages[key] ?? key;
    return message.replace(/\{(\w+)\}/g, (_, name) => (name in values ? String(values[name]) : `{${name}}`));
  }

  return {
    t,
    locale,
    timezone,
    /** HH:MM:SS of a microsecond time, in the user's zone. */
    time: (us) => (us == null ? "" : timeFormat.format(new Date(us / 1000))),
    /** Date and time of an ISO string or microsecond time, in the user's zone. */
    dateTime: (value) => {
      if (value == null) return "";
      const date = typeof value === "number" ? new Date(value / 1000) : new Date(value);
      return dateTimeFormat.format(date);
    },
    percent: (ratio) => (ratio == null ? "–" : percent.format(ratio)),
    duration,
  };
}

/** 75 -> "1:15", 3725 -> "1:02:05"; null -> "–". */
export function duration(seconds) {
  if (seconds == null) return "–";
  const s = Math.max(0, Math.floor(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const rest = String(s % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${rest}` : `${m}:${rest}`;
}

/** Every message key a module asks for at run time must be in this list (a test checks
 * the catalogues hold them); keys built from data use these prefixes. */
export const DYNAMIC_PREFIXES = ["dsk.state.", "dsk.reason.", "dsk.channel.", "dsk.istate.", "vip.", "role."];
