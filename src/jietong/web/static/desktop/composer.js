// The composer's pure parts: SMS segments, canned-response variables, @mentions, and the
// plain-text rendering of rich email text. No DOM here (see richtext.js for that).

// GSM 03.38: the basic set costs one septet, the extension set two (an escape first).
// Same tables as jietong/channels/sms/wire.py; a test checks both count alike.
const GSM_BASIC = new Set(
  "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà",
);
const GSM_EXTENSION = new Set("\f^{}\\[~]|€");

/**
 * How a handset receives an SMS: {encoding: "GSM-7"|"UCS-2", units, segments, perSegment}.
 * Escape pairs and surrogate pairs never split across parts, as on the server.
 */
export function smsSegments(text) {
  const chars = Array.from(text); // code points
  const gsm = chars.every((c) => GSM_BASIC.has(c) || GSM_EXTENSION.has(c));
  const sizes = gsm
    ? chars.map((c) => (GSM_EXTENSION.has(c) ? 2 : 1))
    : chars.map((c) => (c.codePointAt(0) > 0xffff ? 2 : 1));
  const [single, part] = gsm ? [160, 153] : [70, 67];
  const units = sizes.reduce((a, b) => a + b, 0);
  let segments = 1;
  if (units > single) {
    let used = 0;
    for (const size of sizes) {
      if (used + size > part) {
        segments += 1;
        used = 0;
      }
      used += size;
    }
  }
  return { encoding: gsm ? "GSM-7" : "UCS-2", units, segments, perSegment: units > single ? part : single };
}

/** Variables a canned response may use, as {name: value} (missing ones stay visible). */
export function cannedVariables({ customer, agent, org, card, today }) {
  return {
    "customer.name": customer?.display_name,
    "customer.company": customer?.company,
    "customer.vip": customer?.vip_tier,
    "agent.name": agent?.name,
    "org.name": org?.name,
    "conversation.subject": card?.subject,
    today,
  };
}

/**
 * Fill {variable} placeholders; an unknown or empty variable is left as written so the
 * agent sees what still needs typing. "{{" and "}}" are literal braces.
 */
export function expandCanned(template, variables) {
  return template.replace(/\{\{|\}\}|\{([a-z_]+(?:\.[a-z_]+)?)\}/g, (match, name) => {
    if (match === "{{") return "{";
    if (match === "}}") return "}";
    const value = variables[name];
    return value == null || value === "" ? match : String(value);
  });
}

/** The @word being typed at `caret`, or null: {query, start}. */
export function mentionAt(text, caret) {
  const before = text.slice(0, caret);
  const m = /(^|\s)@([\p{L}\p{N}_.-]{0,40})$/u.exec(before);
  return m ? { query: m[2], start: caret - m[2].length - 1 } : null;
}

/** Users whose name or username starts with (or contains) the query, best first. */
export function mentionCandidates(users, query, limit = 6) {
  const q = query.toLowerCase();
  const scored = [];
  for (const [id, user] of Object.entries(users)) {
    const name = user.name.toLowerCase();
    const rank = name.startsWith(q) ? 0 : name.includes(q) ? 1 : -1;
    if (rank >= 0) scored.push({ id, name: user.name, rank });
  }
  return scored.sort((a, b) => a.rank - b.rank || a.name.localeCompare(b.name)).slice(0, limit);
}

/** Ids of the users mentioned as @Name in `text` (longest names first, no duplicates). */
export function mentionedIds(text, users) {
  const found = new Set();
  const byLength = Object.entries(users).sort((a, b) => b[1].name.length - a[1].name.length);
  for (const [id, user] of byLength) {
    const escaped = user.name.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    if (new RegExp(`(^|\\s)@${escaped}(?![\\p{L}\\p{N}_])`, "u").test(text)) found.add(id);
  }
  return [...found];
}

/** Email addresses of a CC field: [{address, valid}]. */
export function parseAddresses(field) {
  return field
    .split(/[,;\s]+/)
    .map((a) => a.trim())
    .filter(Boolean)
    .map((address) => ({ address, valid: /^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$/.test(address) }));
}
