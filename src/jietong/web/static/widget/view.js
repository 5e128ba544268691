/*
 * The widget's DOM, built inside a shadow root so the host site's CSS cannot reach it
 * and ours cannot leak out. Every text from the network is set with textContent, never
 * parsed as HTML: a message cannot inject markup into the customer's page.
 */

export function element(tag, attributes = {}, children = []) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "text") node.textContent = value;
    else node.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children) node.append(child);
  return node;
}

/** "{name} is typing" with {name} filled; unknown placeholders stay as they are. */
export function format(template, values = {}) {
  return String(template || "").replace(/\{(\w+)\}/g, (match, name) =>
    name in values ? String(values[name]) : match,
  );
}

export function buildPanel(root, base) {
  root.append(element("link", { rel: "stylesheet", href: `${base}jietong-chat.css` }));
  const ui = {};
  ui.launcher = element("button", { class: "launcher", type: "button", "aria-expanded": "false" });
  ui.title = element("h2", { class: "title" });
  ui.close = element("button", { class: "close", type: "button", text: "×" });
  ui.status = element("div", { class: "status", role: "status" });
  ui.followup = buildFollowup();
  ui.messages = element("ol", { class: "messages", "aria-live": "polite" });
  ui.typing = element("div", { class: "typing", hidden: true });
  ui.notice = element("div", { class: "notice", role: "alert", hidden: true });
  ui.prechat = buildPrechat();
  ui.offline = buildOffline();
  ui.composer = buildComposer();
  ui.tools = buildTools();
  ui.panel = element("section", { class: "panel", role: "dialog", hidden: true }, [
    element("header", {}, [ui.title, ui.close]),
    ui.status,
    ui.followup.form,
    ui.messages,
    ui.typing,
    ui.prechat.form,
    ui.offline.form,
    ui.notice,
    ui.composer.form,
    ui.tools.bar,
  ]);
  root.append(ui.launcher, ui.panel);
  return ui;
}

function field(name, type, required = false) {
  const input = element("input", { name, type, required, autocomplete: name });
  const label = element("label", {}, [element("span", { class: "label" }), input]);
  return { label, input };
}

function buildPrechat() {
  const name = field("name", "text");
  const email = field("email", "email");
  const phone = field("tel", "tel");
  const intro = element("p", { class: "intro" });
  const start = element("button", { type: "submit", class: "primary" });
  const skip = element("button", { type: "button", class: "link" });
  const form = element("form", { class: "prechat", hidden: true }, [
    intro,
    name.label,
    email.label,
    phone.label,
    element("div", { class: "actions" }, [start, skip]),
  ]);
  return { form, intro, name, email, phone, start, skip };
}

function buildOffline() {
  const title = element("h3");
  const intro = element("p", { class: "intro" });
  const name = field("name", "text");
  const email = field("email", "email", true);
  const text = element("textarea", { name: "message", rows: "4", required: true });
  const textLabel = element("label", {}, [element("span", { class: "label" }), text]);
  const send = element("button", { type: "submit", class: "primary" });
  const thanks = element("p", { class: "thanks", hidden: true });
  const form = element("form", { class: "offline", hidden: true }, [
    title,
    intro,
    name.label,
    email.label,
    textLabel,
    element("div", { class: "actions" }, [send]),
    thanks,
  ]);
  return { form, title, intro, name, email, text, textLabel, send, thanks };
}

/* Shown while routing keeps the chat as work rather than live: the visitor may leave an
   email so that the answer also reaches them after they close the page. */
function buildFollowup() {
  const email = element("input", { type: "email", name: "email", required: true });
  const send = element("button", { type: "submit", class: "link" });
  const form = element("form", { class: "followup", hidden: true }, [email, send]);
  return { form, email, send };
}

function buildComposer() {
  const text = element("textarea", { name: "text", rows: "2", class: "text" });
  const file = element("input", { type: "file", class: "file", hidden: true });
  const attach = element("button", { type: "button", class: "attach" }, [paperclip()]);
  const send = element("button", { type: "submit", class: "send primary" });
  const form = element("form", { class: "composer", hidden: true }, [attach, file, text, send]);
  return { form, text, file, attach, send };
}

/* An SVG icon built node by node: no font needed (emoji fonts are often missing) and
   no markup string parsed. */
function paperclip() {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("width", "20");
  svg.setAttribute("height", "20");
  svg.setAttribute("aria-hidden", "true");
  const path = document.createElementNS(ns, "path");
  path.setAttribute(
    "d",
    "M16.5 6.5v10a4.5 4.5 0 0 1-9 0V5a3 3 0 0 1 6 0v10.5a1.5 1.5 0 0 1-3 0V6.5",
  );
  path.setAttribute("fill", "none");
  path.setAttribute("stroke", "currentColor");
  path.setAttribute("stroke-width", "1.6");
  path.setAttribute("stroke-linecap", "round");
  svg.append(path);
  return svg;
}

function buildTools() {
  const email = element("button", { type: "button", class: "link transcript-email" });
  const download = element("button", { type: "button", class: "link transcript-download" });
  const address = element("input", { type: "email", class: "transcript-address", hidden: true });
  const bar = element("footer", { class: "tools", hidden: true }, [download, email, address]);
  return { bar, email, download, address };
}
