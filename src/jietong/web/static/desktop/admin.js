// The admin console: one section per resource, each a list and a form over the existing
// APIs (org, routing, channels, desktop, tokens, voice). The server validates; its messages are
// shown next to the fields they name.

import { createApi } from "./api.js";
import { h, pageConfig, replace } from "./dom.js";
import { resourceSection } from "./forms.js";
import { createI18n } from "./i18n.js";

const config = pageConfig();
const i18n = createI18n(config);
const { t } = i18n;
const api = createApi(config.csrf, { locale: config.locale });
const body = document.getElementById("admin-body");
const cache = { teams: [], skills: [], queues: [], providers: [] };

function toast(message) {
  const box = document.getElementById("dsk-toast");
  box.textContent = message;
  box.dataset.shown = "true";
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => (box.dataset.shown = "false"), 5000);
}

const items = (page) => page.items ?? page;
const list = (path) => async () => items(await api.get(path));
const teamName = (id) => cache.teams.find((x) => x.id === id)?.name ?? "";
const queueName = (id) => cache.queues.find((x) => x.id === id)?.name ?? "";
const yes = (flag) => (flag ? "✓" : "—");

async function refreshCache() {
  const [teams, skills, queues] = await Promise.all([
    api.get("/api/v1/teams?limit=200"),
    api.get("/api/v1/skills?limit=200"),
    api.get("/api/v1/queues?limit=200"),
  ]);
  Object.assign(cache, { teams: teams.items, skills: skills.items, queues: queues.items });
  cache.providers = config.providers;
}

const options = {
  teams: () => cache.teams.map((x) => [x.id, `${x.name} (${t(`adm.kind.${x.kind}`)})`]),
  departments: () => cache.teams.map((x) => [x.id, x.name]),
  queues: () => cache.queues.map((x) => [x.id, x.name]),
  channels: () => config.channels.map((c) => [c, t(`dsk.channel.${c}`)]),
  roles: () => ["admin", "supervisor", "agent", "back_office", "read_only"].map((r) => [r, t(`role.${r}`)]),
  locales: () => [["zh-CN", "中文"], ["en", "English"]],
};

// -- section specs ----------------------------------------------------------------------

const SECTIONS = {
  users: {
    title: "adm.users.title",
    list: list("/api/v1/users?limit=200"),
    name: (u) => u.username,
    columns: [
      { label: "adm.users.username", value: (u) => u.username },
      { label: "adm.users.display_name", value: (u) => u.display_name },
      { label: "adm.users.role", value: (u) => t(`role.${u.role}`) },
      { label: "adm.users.teams", value: (u) => u.team_ids.map(teamName).join(", ") },
      { label: "adm.users.active", value: (u) => yes(u.active) },
    ],
    fields: [
      { name: "username", label: "adm.users.username", required: true, createOnly: true, maxlength: 150 },
      { name: "display_name", label: "adm.users.display_name", required: true, maxlength: 200 },
      { name: "email", label: "adm.users.email", type: "email" },
      { name: "password", label: "adm.users.password", type: "password", required: true, help: "adm.users.password_help" },
      { name: "role", label: "adm.users.role", type: "select", required: true, options: options.roles, default: "agent" },
      { name: "team_ids", label: "adm.users.teams", type: "multi", options: options.teams, sendEmpty: true },
      { name: "locale", label: "adm.users.locale", type: "select", options: options.locales },
      { name: "timezone", label: "adm.users.timezone", placeholder: "adm.users.timezone_hint" },
      { name: "active", label: "adm.users.active", type: "checkbox", default: true },
    ],
    create: (b) => api.post("/api/v1/users", b),
    update: (u, b) => api.patch(`/api/v1/users/${u.id}`, b),
  },
  teams: {
    title: "adm.teams.title",
    intro: "adm.teams.intro",
    list: list("/api/v1/teams?limit=200"),
    name: (x) => x.name,
    columns: [
      { label: "adm.name", value: (x) => x.name },
      { label: "adm.teams.kind", value: (x) => t(`adm.kind.${x.kind}`) },
    ],
    fields: [
      { name: "name", label: "adm.name", required: true, maxlength: 200 },
      { name: "kind", label: "adm.teams.kind", type: "select", required: true, default: "team", options: () => [["team", t("adm.kind.team")], ["department", t("adm.kind.department")]] },
    ],
    create: (b) => api.post("/api/v1/teams", b),
    update: (x, b) => api.patch(`/api/v1/teams/${x.id}`, b),
    remove: (x) => api.del(`/api/v1/teams/${x.id}`),
    extra: (x) => h("button", { type: "button", class: "quiet", onclick: () => teamRules(x) }, t("adm.teams.rules")),
    afterSave: refreshCache,
  },
  skills: {
    title: "adm.skills.title",
    list: list("/api/v1/skills?limit=200"),
    name: (x) => x.name,
    columns: [
      { label: "adm.name", value: (x) => x.name },
      { label: "adm.skills.kind", value: (x) => t(`adm.skill_kind.${x.kind}`) },
    ],
    fields: [
      { name: "name", label: "adm.name", required: true, maxlength: 100 },
      { name: "kind", label: "adm.skills.kind", type: "select", required: true, default: "skill", options: () => [["skill", t("adm.skill_kind.skill")], ["language", t("adm.skill_kind.language")]] },
    ],
    create: (b) => api.post("/api/v1/skills", b),
    update: (x, b) => api.patch(`/api/v1/skills/${x.id}`, b),
    remove: (x) => api.del(`/api/v1/skills/${x.id}`),
    afterSave: refreshCache,
  },
  queues: {
    title: "adm.queues.title",
    list: list("/api/v1/queues?limit=200"),
    name: (x) => x.name,
    columns: [
      { label: "adm.name", value: (x) => x.name },
      { label: "adm.queues.channels", value: (x) => x.channels.map((c) => t(`dsk.channel.${c}`)).join(", ") },
      { label: "adm.queues.team", value: (x) => teamName(x.team_id) },
      { label: "adm.queues.policy", value: (x) => t(`adm.policy.${x.policy}`) },
      { label: "adm.queues.target", value: (x) => t("adm.queues.target_value", { sl: Math.round(x.target_service_level * 100), seconds: x.target_answer_seconds }) },
    ],
    fields: [
      { name: "name", label: "adm.name", required: true, maxlength: 200 },
      { name: "channels", label: "adm.queues.channels", type: "multi", required: true, options: options.channels },
      { name: "team_id", label: "adm.queues.team", type: "select", options: options.teams },
      { name: "policy", label: "adm.queues.policy", type: "select", default: "longest_idle", options: () => ["longest_idle", "best_proficiency", "round_robin", "least_occupied"].map((p) => [p, t(`adm.policy.${p}`)]) },
      { name: "priority", label: "adm.queues.priority", type: "number", min: 0, max: 100 },
      { name: "required_skills", label: "adm.queues.required_skills", type: "json", help: "adm.queues.required_skills_help", rows: 3 },
      { name: "target_service_level", label: "adm.queues.target_sl", type: "number", min: 0, max: 1, step: 0.01, default: 0.8 },
      { name: "target_answer_seconds", label: "adm.queues.target_seconds", type: "number", min: 1, default: 20 },
    ],
    create: (b) => api.post("/api/v1/queues", b),
    update: (x, b) => api.patch(`/api/v1/queues/${x.id}`, b),
    remove: (x) => api.del(`/api/v1/queues/${x.id}`),
    extra: (x) => [
      h("button", { type: "button", class: "quiet", onclick: () => queueRouting(x) }, t("adm.queues.routing")),
      x.channels.includes("call") ? h("button", { type: "button", class: "quiet", dataset: { action: "recording" }, onclick: () => recordingPolicy(x) }, t("adm.recording.edit")) : null,
    ],
    afterSave: refreshCache,
  },
  hours: {
    title: "adm.hours.title",
    intro: "adm.hours.intro",
    list: list("/api/v1/queues?limit=200"),
    name: (x) => x.name,
    columns: [{ label: "adm.name", value: (x) => x.name }],
    fields: [],
    extra: (x) => h("button", { type: "button", class: "quiet", onclick: () => businessHours(x) }, t("adm.hours.edit")),
  },
  channels: {
    title: "adm.channels.title",
    intro: "adm.channels.intro",
    list: () => api.get("/api/v1/channel-accounts"),
    name: (x) => x.name,
    columns: [
      { label: "adm.name", value: (x) => x.name },
      { label: "adm.channels.channel", value: (x) => `${t(`dsk.channel.${x.channel}`)} · ${x.provider}` },
      { label: "adm.channels.address", value: (x) => x.address ?? "" },
      { label: "adm.channels.queue", value: (x) => queueName(x.queue_id) },
      { label: "adm.channels.enabled", value: (x) => yes(x.enabled) },
    ],
    fields: [
      { name: "kind", label: "adm.channels.provider", type: "select", required: true, createOnly: true, options: () => cache.providers.map((p) => [`${p.channel}/${p.provider}`, `${t(`dsk.channel.${p.channel}`)} · ${p.provider}`]) },
      { name: "name", label: "adm.name", maxlength: 200 },
      { name: "address", label: "adm.channels.address", help: "adm.channels.address_help" },
      { name: "queue_id", label: "adm.channels.queue", type: "select", options: options.queues },
      { name: "settings", label: "adm.channels.settings", type: "json", help: "adm.channels.settings_help" },
      { name: "secrets", label: "adm.channels.secrets", type: "json", help: "adm.channels.secrets_help", value: () => null },
      { name: "enabled", label: "adm.channels.enabled", type: "checkbox", default: true },
    ],
    onForm: providerTemplate,
    toBody: (b) => {
      if (b.kind) {
        const [channel, provider] = b.kind.split("/");
        Object.assign(b, { channel, provider });
        delete b.kind;
      }
      return b;
    },
    create: (b) => api.post("/api/v1/channel-accounts", b),
    update: (x, b) => api.patch(`/api/v1/channel-accounts/${x.id}`, b),
    remove: (x) => api.del(`/api/v1/channel-accounts/${x.id}`),
    extra: (x) => h("button", { type: "button", class: "quiet", onclick: () => channelDetails(x) }, t("adm.channels.details")),
  },
  wrapup: {
    title: "adm.wrapup.title",
    list: () => api.get("/api/v1/desktop/wrap-up-codes"),
    name: (x) => x.code,
    columns: [
      { label: "adm.wrapup.code", value: (x) => x.code },
      { label: "adm.wrapup.label", value: (x) => x.label },
      { label: "adm.wrapup.active", value: (x) => yes(x.active) },
      { label: "adm.wrapup.position", value: (x) => x.position },
    ],
    fields: [
      { name: "code", label: "adm.wrapup.code", required: true, maxlength: 32 },
      { name: "label", label: "adm.wrapup.label", required: true, maxlength: 200 },
      { name: "active", label: "adm.wrapup.active", type: "checkbox", default: true },
      { name: "position", label: "adm.wrapup.position", type: "number", min: 0, max: 10000 },
    ],
    create: (b) => api.post("/api/v1/desktop/wrap-up-codes", b),
    update: (x, b) => api.patch(`/api/v1/desktop/wrap-up-codes/${x.id}`, b),
    remove: (x) => api.del(`/api/v1/desktop/wrap-up-codes/${x.id}`),
  },
  canned: {
    title: "adm.canned.title",
    intro: "adm.canned.intro",
    list: () => api.get("/api/v1/desktop/canned-responses"),
    name: (x) => x.title,
    columns: [
      { label: "adm.canned.title_field", value: (x) => x.title },
      { label: "adm.canned.shortcut", value: (x) => (x.shortcut ? `/${x.shortcut}` : "") },
      { label: "adm.queues.channels", value: (x) => x.channels.map((c) => t(`dsk.channel.${c}`)).join(", ") || t("adm.canned.all_channels") },
      { label: "adm.queues.team", value: (x) => teamName(x.team_id) || t("adm.canned.everyone") },
    ],
    fields: [
      { name: "title", label: "adm.canned.title_field", required: true, maxlength: 200 },
      { name: "shortcut", label: "adm.canned.shortcut", help: "adm.canned.shortcut_help", maxlength: 32 },
      { name: "body", label: "adm.canned.body", type: "textarea", required: true, help: "adm.canned.body_help", rows: 5 },
      { name: "channels", label: "adm.queues.channels", type: "multi", options: options.channels, sendEmpty: true },
      { name: "team_id", label: "adm.queues.team", type: "select", options: options.teams },
    ],
    create: (b) => api.post("/api/v1/desktop/canned-responses", b),
    update: (x, b) => api.patch(`/api/v1/desktop/canned-responses/${x.id}`, b),
    remove: (x) => api.del(`/api/v1/desktop/canned-responses/${x.id}`),
  },
  tokens: {
    title: "adm.tokens.title",
    intro: "adm.tokens.intro",
    list: () => api.get("/api/v1/tokens"),
    name: (x) => x.name,
    columns: [
      { label: "adm.name", value: (x) => x.name },
      { label: "adm.tokens.scopes", value: (x) => x.scopes.join(" ") },
      { label: "adm.tokens.expires", value: (x) => (x.expires_at ? i18n.dateTime(x.expires_at) : "—") },
      { label: "adm.tokens.last_used", value: (x) => (x.last_used_at ? i18n.dateTime(x.last_used_at) : "—") },
      { label: "adm.tokens.revoked", value: (x) => (x.revoked_at ? i18n.dateTime(x.revoked_at) : "—") },
    ],
    fields: [
      { name: "name", label: "adm.name", required: true, maxlength: 200 },
      { name: "scopes", label: "adm.tokens.scopes", type: "multi", required: true, options: () => config.scopes.map((s) => [s, s]) },
      { name: "expires_at", label: "adm.tokens.expires", type: "datetime-local" },
    ],
    toBody: (b) => (b.expires_at ? { ...b, expires_at: new Date(b.expires_at).toISOString() } : b),
    create: (b) => api.post("/api/v1/tokens", b),
    remove: (x) => api.del(`/api/v1/tokens/${x.id}`),
    afterSave: (issued) => showOnce(issued.token),
  },
  ivr: {
    title: "adm.ivr.title",
    intro: "adm.ivr.intro",
    list: () => api.get("/api/v1/voice/ivr-flows"),
    name: (x) => x.name,
    columns: [
      { label: "adm.name", value: (x) => x.name },
      { label: "adm.ivr.numbers", value: (x) => x.numbers.join(", ") },
      { label: "adm.ivr.version", value: (x) => x.version },
      { label: "adm.ivr.steps", value: (x) => Object.keys(x.definition.nodes ?? {}).length },
    ],
    fields: [
      { name: "name", label: "adm.name", required: true, maxlength: 100 },
      { name: "numbers", label: "adm.ivr.numbers", type: "list", help: "adm.ivr.numbers_help", sendEmpty: true },
      // A new flow starts from the smallest valid one, so the editor shows the shape.
      { name: "definition", label: "adm.ivr.definition", type: "json", required: true, rows: 18, help: "adm.ivr.definition_help", default: { start: "bye", languages: ["zh-CN", "en"], nodes: { bye: { type: "hangup" } } } },
    ],
    create: (b) => api.post("/api/v1/voice/ivr-flows", b),
    // PUT replaces the flow and saves its previous definition as a version.
    update: (x, b) => api.put(`/api/v1/voice/ivr-flows/${x.id}`, b),
    remove: (x) => api.del(`/api/v1/voice/ivr-flows/${x.id}`),
    extra: (x) => h("button", { type: "button", class: "quiet", dataset: { action: "versions" }, onclick: () => flowVersions(x) }, t("adm.ivr.versions")),
  },
  prompts: {
    title: "adm.prompts.title",
    intro: "adm.prompts.intro",
    list: () => api.get("/api/v1/voice/prompts"),
    name: (x) => x.name,
    columns: [
      { label: "adm.name", value: (x) => x.name },
      { label: "adm.prompts.language", value: (x) => x.language },
      { label: "adm.prompts.duration", value: (x) => t("adm.prompts.seconds", { seconds: (x.duration_ms / 1000).toFixed(1) }) },
      { label: "adm.prompts.created", value: (x) => i18n.dateTime(x.created_at) },
    ],
    fields: [
      { name: "name", label: "adm.name", required: true, maxlength: 100, help: "adm.prompts.name_help" },
      { name: "language", label: "adm.prompts.language", type: "select", required: true, default: "zh-CN", options: options.locales },
      { name: "file", label: "adm.prompts.file", type: "file", required: true, accept: "audio/wav,audio/x-wav,.wav", help: "adm.prompts.file_help" },
    ],
    // The upload is multipart: the WAV itself and its name and language as form fields.
    create: (b) => {
      const data = new FormData();
      for (const [key, value] of Object.entries(b)) data.append(key, value);
      return api.post("/api/v1/voice/prompts", data);
    },
  },
  trunks: {
    title: "adm.trunks.title",
    intro: "adm.trunks.intro",
    list: () => api.get("/api/v1/voice/trunks"),
    name: (x) => x.name,
    columns: [
      { label: "adm.name", value: (x) => x.name },
      { label: "adm.trunks.host", value: (x) => `${x.host}:${x.port}` },
      { label: "adm.trunks.allowed_sources", value: (x) => x.allowed_sources.join(", ") },
      { label: "adm.trunks.registering", value: (x) => yes(x.registering) },
      { label: "adm.trunks.is_default", value: (x) => yes(x.is_default) },
      { label: "adm.trunks.enabled", value: (x) => yes(x.enabled) },
    ],
    fields: [
      { name: "name", label: "adm.name", required: true, maxlength: 100 },
      { name: "host", label: "adm.trunks.host", required: true, maxlength: 255 },
      { name: "port", label: "adm.trunks.port", type: "number", min: 1, max: 65535, default: 5060 },
      { name: "allowed_sources", label: "adm.trunks.allowed_sources", type: "list", help: "adm.trunks.allowed_sources_help", sendEmpty: true },
      { name: "username", label: "adm.trunks.username", maxlength: 128 },
      // Write-only: the server says only whether one is set; empty keeps the stored one.
      { name: "password", label: "adm.trunks.password", type: "password", maxlength: 256, help: "adm.trunks.password_help" },
      { name: "registering", label: "adm.trunks.registering", type: "checkbox", help: "adm.trunks.registering_help" },
      { name: "register_expires_s", label: "adm.trunks.register_expires", type: "number", min: 60, max: 86400, default: 3600 },
      { name: "is_default", label: "adm.trunks.is_default", type: "checkbox" },
      { name: "enabled", label: "adm.trunks.enabled", type: "checkbox", default: true },
      { name: "trusted_edge", label: "adm.trunks.trusted_edge", type: "checkbox", help: "adm.trunks.trusted_edge_help" },
    ],
    create: (b) => api.post("/api/v1/voice/trunks", b),
    update: (x, b) => api.patch(`/api/v1/voice/trunks/${x.id}`, b),
    remove: (x) => api.del(`/api/v1/voice/trunks/${x.id}`),
  },
  phones: {
    title: "adm.phones.title",
    intro: "adm.phones.intro",
    list: async () => {
      // Phones name their user by id: the list shows usernames.
      const [phones] = await Promise.all([api.get("/api/v1/voice/phones"), loadUsers()]);
      return phones;
    },
    name: (x) => x.username,
    columns: [
      { label: "adm.phones.username", value: (x) => `${x.username}@${x.realm}` },
      { label: "adm.phones.user", value: (x) => cache.users?.find((u) => u.id === x.user_id)?.username ?? "" },
      { label: "adm.phones.registered", value: (x) => x.registered_contacts },
      { label: "adm.phones.enabled", value: (x) => yes(x.enabled) },
      { label: "adm.phones.rotated", value: (x) => i18n.dateTime(x.rotated_at) },
    ],
    fields: [
      { name: "user_id", label: "adm.phones.user", type: "select", required: true, createOnly: true, options: phoneUsers },
      { name: "username", label: "adm.phones.username", createOnly: true, maxlength: 64, help: "adm.phones.username_help" },
      { name: "enabled", label: "adm.phones.enabled", type: "checkbox", default: true },
    ],
    // Creating takes the user and the SIP name; an account starts enabled, and editing
    // changes only that.
    toBody: (b, editing) => (editing ? { enabled: b.enabled } : { user_id: b.user_id, username: b.username }),
    // The form is drawn before the list has loaded the users: fill the choice when they come.
    onForm: async (form, editing) => {
      // A new account is always enabled: the box is for editing only.
      if (!editing) form.elements.enabled?.closest(".field").remove();
      const select = form.elements.user_id;
      if (editing || !select || select.options.length) return;
      await loadUsers().catch((error) => toast(error.message));
      replace(select, phoneUsers().map(([id, label]) => h("option", { value: id }, label)));
    },
    create: (b) => api.post("/api/v1/voice/phones", b),
    update: (x, b) => api.patch(`/api/v1/voice/phones/${x.id}`, b),
    remove: (x) => api.del(`/api/v1/voice/phones/${x.id}`),
    afterSave: (saved, editing) => (editing ? null : phonePassword(saved)),
    extra: (x) => h("button", { type: "button", class: "quiet", dataset: { action: "rotate" }, onclick: () => rotatePhone(x) }, t("adm.phones.rotate")),
  },
};

/** Prefill a new account's settings and secrets with what its provider requires, and
 * say which optional ones it also takes. */
function providerTemplate(form, editing) {
  const select = form.elements.kind;
  if (!select || editing) return;
  const hint = h("small", { class: "muted", "data-provider-hint": "" });
  select.after(hint);
  const fill = () => {
    const spec = cache.providers.find((p) => `${p.channel}/${p.provider}` === select.value);
    if (!spec) return;
    const blank = (keys) => (keys.length ? JSON.stringify(Object.fromEntries(keys.map((k) => [k, ""])), null, 2) : "");
    form.elements.settings.value = blank(spec.settings);
    form.elements.secrets.value = blank(spec.secrets);
    const optional = [...spec.optional_settings, ...spec.optional_secrets];
    hint.textContent = optional.length ? t("adm.channels.optional", { keys: optional.join(", ") }) : "";
  };
  select.addEventListener("change", fill);
  fill();
}

// -- panels beyond plain rows -----------------------------------------------------------

function panel(title, ...content) {
  const dialog = h("dialog", { class: "admin-dialog" }, h("h3", {}, title), ...content);
  document.body.append(dialog);
  dialog.addEventListener("close", () => dialog.remove());
  dialog.showModal();
  return dialog;
}

function closeButton(dialog) {
  return h("button", { type: "button", class: "quiet", onclick: () => dialog.close() }, t("adm.close"));
}

function showOnce(token) {
  const dialog = panel(t("adm.tokens.issued"), h("p", {}, t("adm.tokens.issued_help")), h("pre", { class: "snippet" }, token));
  dialog.append(closeButton(dialog));
}

async function loadUsers() {
  cache.users = items(await api.get("/api/v1/users?limit=200"));
}

function phoneUsers() {
  return (cache.users ?? []).map((u) => [u.id, `${u.username} (${u.display_name})`]);
}

/** A phone's SIP password, shown once like a token: the server keeps only its digest. */
function phonePassword(issued) {
  const { phone, password } = issued;
  const dialog = panel(
    `${t("adm.phones.password")} · ${phone.username}@${phone.realm}`,
    h("p", {}, t("adm.phones.password_help")),
    h("pre", { class: "snippet", "data-password": "" }, password),
  );
  dialog.append(closeButton(dialog));
}

async function rotatePhone(phone) {
  if (!window.confirm(t("adm.phones.rotate_confirm", { name: phone.username }))) return;
  try {
    phonePassword(await api.post(`/api/v1/voice/phones/${phone.id}/rotate`));
  } catch (error) {
    toast(error.message);
  }
}

/** The saved versions of a flow, newest first, each with its definition. */
async function flowVersions(flow) {
  let versions;
  try {
    if (!cache.users) await loadUsers();
    versions = await api.get(`/api/v1/voice/ivr-flows/${flow.id}/versions`);
  } catch (error) {
    return toast(error.message);
  }
  const who = (id) => cache.users?.find((u) => u.id === id)?.username ?? id ?? "—";
  const rows = versions.length
    ? versions.map((v) =>
        h(
          "details",
          { class: "flow-version", dataset: { version: v.version } },
          h("summary", {}, t("adm.ivr.version_line", { version: v.version, when: i18n.dateTime(v.saved_at), who: who(v.saved_by) })),
          h("pre", { class: "snippet" }, JSON.stringify(v.definition, null, 2)),
        ),
      )
    : h("p", { class: "muted" }, t("adm.empty"));
  const dialog = panel(`${t("adm.ivr.versions")} · ${flow.name}`, h("p", { class: "muted" }, t("adm.ivr.current", { version: flow.version })), rows);
  dialog.append(closeButton(dialog));
}

function channelDetails(account) {
  const origin = location.origin;
  const parts = [];
  if (account.channel === "chat") {
    const snippet = `<script src="${origin}/static/widget/jietong-chat.js" data-widget-key="${account.id}" async></script>`;
    parts.push(
      h("p", {}, t("adm.channels.embed_help")),
      h("pre", { class: "snippet", "data-embed": "" }, snippet),
      h("p", {}, h("a", { href: `/api/v1/channels/chat/${account.id}/demo`, target: "_blank", rel: "noopener" }, t("adm.channels.try_widget"))),
    );
  }
  if (account.webhook_paths?.length) {
    parts.push(h("p", {}, t("adm.channels.webhooks")), h("pre", { class: "snippet" }, account.webhook_paths.map((p) => origin + p).join("\n")));
  }
  const masked = Object.entries(account.secrets).map(([k, v]) => `${k}: ${v}`).join("\n");
  parts.push(h("p", {}, t("adm.channels.secrets_masked")), h("pre", { class: "snippet" }, masked || "—"));
  const dialog = panel(`${account.name} · ${t(`dsk.channel.${account.channel}`)}`, ...parts);
  dialog.append(closeButton(dialog));
}

/** A JSON editor dialog over GET/PUT of one settings document. */
async function jsonPanel(title, help, path) {
  let current;
  try {
    current = await api.get(path);
  } catch (error) {
    return toast(error.message);
  }
  const area = h("textarea", { rows: 16, class: "json" }, JSON.stringify(current, null, 2));
  const error = h("p", { class: "error", role: "alert" });
  const dialog = panel(title, h("p", { class: "muted" }, help), area, error);
  const save = async () => {
    error.textContent = "";
    try {
      await api.put(path, JSON.parse(area.value));
      toast(t("adm.saved"));
      dialog.close();
    } catch (err) {
      error.textContent = [err.message, ...(err.fieldErrors ?? []).map((e) => `${e.field}: ${e.message}`)].join(" · ");
    }
  };
  dialog.append(h("button", { type: "button", onclick: save }, t("adm.save")), closeButton(dialog));
}

function teamRules(team) {
  jsonPanel(`${t("adm.teams.rules")} · ${team.name}`, t("adm.teams.rules_help"), `/api/v1/routing/teams/${team.id}/rules`);
}

function queueRouting(queue) {
  jsonPanel(`${t("adm.queues.routing")} · ${queue.name}`, t("adm.queues.routing_help"), `/api/v1/routing/queues/${queue.id}/settings`);
}

/** A call queue's recording policy: record (as the site / always / never), consent
 * announcement and its uploaded prompt, retention days (empty: the site's). */
async function recordingPolicy(queue) {
  const path = `/api/v1/voice/queues/${queue.id}/recording`;
  let policy;
  try {
    policy = await api.get(path);
  } catch (error) {
    return toast(error.message);
  }
  // Uploaded prompts (admins); without them the built-in sentence is the only choice.
  const prompts = await api.get("/api/v1/voice/prompts").catch(() => []);
  const names = [...new Set(items(prompts).map((p) => p.name))];
  const site = t(policy.site_record_calls ? "adm.recording.site_on" : "adm.recording.site_off");
  const choice = (value, label) => h("option", { value, selected: policy.record === value }, label);
  const record = h("select", { name: "record" }, choice("inherit", t("adm.recording.inherit", { site })), choice("always", t("adm.recording.always")), choice("never", t("adm.recording.never")));
  const consent = h("input", { type: "checkbox", name: "consent", checked: policy.consent });
  const prompt = h(
    "select",
    { name: "consent_prompt" },
    h("option", { value: "" }, t("adm.recording.builtin")),
    names.map((n) => h("option", { value: n, selected: policy.consent_prompt === n }, n)),
  );
  const days = h("input", { type: "number", name: "retention_days", min: 1, max: 3650, value: policy.retention_days ?? "", placeholder: t("adm.recording.site_days", { days: policy.site_retention_days }) });
  const error = h("p", { class: "error", role: "alert" });
  const form = h(
    "form",
    { class: "recording-form" },
    h(
      "div",
      { class: "hours-grid" },
      h("label", {}, t("adm.recording.record"), record),
      h("label", {}, t("adm.recording.retention"), days),
      h("label", {}, t("adm.recording.prompt"), prompt),
    ),
    h("label", { class: "toggle" }, consent, t("adm.recording.consent")),
    error,
  );
  const dialog = panel(`${t("adm.recording.title")} · ${queue.name}`, form);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    const body = {
      record: record.value,
      consent: consent.checked,
      consent_prompt: prompt.value || null,
      retention_days: days.value.trim() === "" ? null : Number(days.value),
    };
    try {
      await api.put(path, body);
      toast(t("adm.saved"));
      dialog.close();
    } catch (err) {
      error.textContent = [err.message, ...(err.fieldErrors ?? []).map((e) => `${e.field}: ${e.message}`)].join(" · ");
    }
  });
  form.append(h("button", { type: "submit" }, t("adm.save")), closeButton(dialog));
}

const WEEKDAYS = ["0", "1", "2", "3", "4", "5", "6"];

/** Business hours and holidays of a queue, as a form over its routing settings. */
async function businessHours(queue) {
  const path = `/api/v1/routing/queues/${queue.id}/settings`;
  let settings;
  try {
    settings = await api.get(path);
  } catch (error) {
    return toast(error.message);
  }
  const hours = settings.hours ?? { timezone: config.timezone, weekly: {}, holiday_country: "CN", closed_dates: [], open_dates: [] };
  const always = h("input", { type: "checkbox", name: "always", checked: settings.hours == null });
  const fields = h(
    "div",
    { class: "hours-grid" },
    h("label", {}, t("adm.hours.timezone"), h("input", { name: "timezone", value: hours.timezone })),
    h("label", {}, t("adm.hours.country"), h("input", { name: "holiday_country", value: hours.holiday_country ?? "", maxlength: 2 })),
    WEEKDAYS.map((d) =>
      h("label", {}, t(`weekday.${d}`), h("input", { name: `day${d}`, value: (hours.weekly[d] ?? []).map(([a, b]) => `${a}-${b}`).join(", "), placeholder: "09:00-12:00, 13:00-18:00" })),
    ),
    h("label", {}, t("adm.hours.closed_dates"), h("textarea", { name: "closed_dates", rows: 2 }, hours.closed_dates.join(" "))),
    h("label", {}, t("adm.hours.open_dates"), h("textarea", { name: "open_dates", rows: 2 }, hours.open_dates.join(" "))),
  );
  const error = h("p", { class: "error", role: "alert" });
  const form = h("form", { class: "hours-form" }, h("label", { class: "toggle" }, always, t("adm.hours.always_open")), fields, error);
  const dialog = panel(`${t("adm.hours.title")} · ${queue.name}`, form);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    const value = (name) => form.elements[name].value.trim();
    const dates = (name) => value(name).split(/[\s,]+/).filter(Boolean);
    const weekly = {};
    for (const d of WEEKDAYS) {
      const windows = value(`day${d}`).split(",").map((w) => w.trim()).filter(Boolean).map((w) => w.split("-").map((x) => x.trim()));
      if (windows.length) weekly[d] = windows;
    }
    const next = always.checked
      ? null
      : { ...hours, timezone: value("timezone"), holiday_country: value("holiday_country") || null, weekly, closed_dates: dates("closed_dates"), open_dates: dates("open_dates") };
    try {
      await api.put(path, { ...settings, hours: next });
      toast(t("adm.saved"));
      dialog.close();
    } catch (err) {
      error.textContent = [err.message, ...(err.fieldErrors ?? []).map((e) => `${e.field}: ${e.message}`)].join(" · ");
    }
  });
  form.append(h("button", { type: "submit" }, t("adm.save")), closeButton(dialog));
}

// -- navigation -------------------------------------------------------------------------

async function show(name) {
  if (!config.sections.includes(name)) name = config.sections[0];
  const spec = SECTIONS[name];
  for (const link of document.querySelectorAll(".admin-nav a")) {
    link.setAttribute("aria-current", link.dataset.section === name ? "page" : "false");
  }
  const root = h("div", { class: "admin-section", dataset: { section: name } });
  replace(body, root);
  const section = resourceSection(root, spec, { t, toast });
  if (!spec.create) root.querySelector("form.admin-form").hidden = true;
  await section.reload();
}

window.addEventListener("hashchange", () => show(location.hash.slice(1)));
await refreshCache().catch((error) => toast(error.message));
await show(location.hash.slice(1));
