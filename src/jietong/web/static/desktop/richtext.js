// Rich email text: what an agent may format (bold, italic, lists, links, line breaks) and
// nothing else. Pasted markup is rebuilt element by element from an allow-list, so
// scripts, styles, event handlers and javascript: links never survive; the server
// sanitises again before anything is sent (channels/email/sanitize.py).

const KEEP = new Set(["B", "STRONG", "I", "EM", "U", "UL", "OL", "LI", "P", "BR", "A", "DIV", "BLOCKQUOTE"]);
const DROP_WITH_CONTENT = new Set(["SCRIPT", "STYLE", "TEMPLATE", "IFRAME", "OBJECT", "EMBED", "SVG", "MATH", "HEAD", "TITLE"]);

/** A safe href, or null: http(s) and mailto only. */
export function safeHref(href) {
  try {
    const url = new URL(href, "https://invalid.example/");
    if (url.origin === "https://invalid.example") return null; // relative: nowhere to go
    return ["http:", "https:", "mailto:"].includes(url.protocol) ? url.href : null;
  } catch {
    return null;
  }
}

/** A sanitised copy of `source`'s children, built in `doc` (a DocumentFragment). */
export function sanitise(source, doc = document) {
  const out = doc.createDocumentFragment();
  for (const node of source.childNodes) copy(node, out, doc);
  return out;
}

function copy(node, parent, doc) {
  if (node.nodeType === 3) {
    parent.append(doc.createTextNode(node.nodeValue));
    return;
  }
  if (node.nodeType !== 1 || DROP_WITH_CONTENT.has(node.tagName)) return;
  let target = parent;
  if (KEEP.has(node.tagName)) {
    target = doc.createElement(node.tagName.toLowerCase());
    if (node.tagName === "A") {
      const href = safeHref(node.getAttribute("href") || "");
      if (href) {
        target.setAttribute("href", href);
        target.setAttribute("rel", "noopener noreferrer");
      }
    }
    parent.append(target);
  }
  for (const child of node.childNodes) copy(child, target, doc);
}

/** Sanitise HTML text (a paste) into a fragment, parsing it inertly. */
export function sanitiseHtml(html, doc = document) {
  const parsed = new DOMParser().parseFromString(html, "text/html");
  return sanitise(parsed.body, doc);
}

/** Plain text of sanitised rich text: lists as "• ", links as "text (url)". */
export function toPlainText(root) {
  const lines = [];
  let line = "";
  const flush = () => {
    lines.push(line.replace(/[ \t]+/g, " ").trim());
    line = "";
  };
  const walk = (node) => {
    if (node.nodeType === 3) {
      line += node.nodeValue;
      return;
    }
    if (node.nodeType !== 1) return;
    const tag = node.tagName;
    if (tag === "BR") return flush();
    const block = ["P", "DIV", "LI", "UL", "OL", "BLOCKQUOTE"].includes(tag);
    if (block && line.trim()) flush();
    if (tag === "LI") line += "• ";
    for (const child of node.childNodes) walk(child);
    if (tag === "A") {
      const href = node.getAttribute("href");
      if (href && href !== node.textContent && `mailto:${node.textContent}` !== href) line += ` (${href})`;
    }
    if (block && line.trim()) flush();
  };
  for (const child of root.childNodes) walk(child);
  if (line.trim()) flush();
  return lines.join("\n").replace(/\n{3,}/g, "\n\n").trim();
}
