// Declarative admin sections: a list with a form to create and edit rows over one REST
// resource. Validation messages come from the server's problem JSON: the `detail` on top,
// each entry of `errors` next to the field it names.

import { h, replace } from "./dom.js";

/**
 * Field values of a form as typed values, following the field specs.
 * Empty optional fields are left out (PATCH leaves them alone, POST takes defaults).
 */
export function readForm(form, fields, { editing }) {
  const body = {};
  for (const field of fields) {
    if (field.createOnly && editing) continue;
    const input = form.elements[field.name];
    if (!input) continue;
    let value;
    if (field.type === "checkbox") value = input.checked;
    else if (field.type === "multi") value = [...input.selectedOptions].map((o) => o.value);
    else if (field.type === "number") value = input.value === "" ? null : Number(input.value);
    else if (field.type === "list") value = input.value.split(/[\s,]+/).filter(Boolean);
    else if (field.type === "json") value = input.value.trim() ? parseJson(input.value, field.name) : null;
    else if (field.type === "file") value = input.files?.[0] ?? null; // a File, for multipart
    else value = input.value;
    if ((value === "" || value === null) && !field.sendEmpty) continue;
    body[field.name] = value;
  }
  return body;
}

function parseJson(text, name) {
  try {
    return JSON.parse(text);
  } catch {
    const error = new Error(`${name}: JSON`);
    error.fieldErrors = [{ field: name, message: "JSON" }];
    throw error;
  }
}

function input(field, value, t) {
  const common = { name: field.name, id: `f-${field.name}`, required: field.required && !field.optionalOnEdit };
  if (field.type === "select" || field.type === "multi") {
    const chosen = new Set(Array.isArray(value) ? value : [value ?? ""]);
    return h(
      "select",
      { ...common, multiple: field.type === "multi" },
      field.type === "select" && !field.required ? h("option", { value: "" }, "—") : null,
      field.options().map(([v, label]) => h("option", { value: v, selected: chosen.has(v) }, label)),
    );
  }
  if (field.type === "checkbox") return h("input", { ...common, type: "checkbox", checked: value ?? field.default ?? false });
  if (field.type === "file") return h("input", { ...common, type: "file", accept: field.accept });
  if (field.type === "textarea" || field.type === "json") {
    const text = field.type === "json" && value != null ? JSON.stringify(value, null, 2) : (value ?? "");
    return h("textarea", { ...common, rows: field.rows ?? 4 }, text);
  }
  const shown = field.type === "list" && Array.isArray(value) ? value.join(" ") : (value ?? field.default ?? "");
  return h("input", {
    ...common,
    type: field.type === "list" ? "text" : (field.type ?? "text"),
    value: field.type === "password" ? "" : shown,
    placeholder: field.placeholder ? t(field.placeholder) : null,
    min: field.min,
    max: field.max,
    step: field.step,
    maxlength: field.maxlength,
  });
}

/** Build a section (list + form) in `root` from `spec`; returns {reload}. */
export function resourceSection(root, spec, { t, toast }) {
  const table = h("table", { class: "admin-table" });
  const form = h("form", { class: "admin-form", novalidate: true });
  const error = h("p", { class: "error", role: "alert" });
  let rows = [];
  let editing = null;

  function fieldErrors(err) {
    for (const box of form.querySelectorAll("[data-field-error]")) box.textContent = "";
    for (const { field, message } of err.fieldErrors ?? []) {
      const name = field.split(".")[0];
      const box = form.querySelector(`[data-field-error="${name}"]`);
      if (box) box.textContent = message;
      else error.textContent += ` · ${field}: ${message}`;
    }
  }

  function renderForm(row) {
    editing = row;
    const fields = spec.fields.filter((f) => !(f.createOnly && row));
    replace(
      form,
      h("h3", {}, t(row ? "adm.edit" : "adm.create"), " · ", t(spec.title)),
      fields.map((f) =>
        h(
          "div",
          { class: `field field-${f.type ?? "text"}` },
          h("label", { for: `f-${f.name}` }, t(f.label), f.required && !row ? " *" : ""),
          input({ ...f, optionalOnEdit: Boolean(row) }, row ? (f.value ? f.value(row) : row[f.name]) : f.default, t),
          f.help ? h("small", { class: "muted" }, t(f.help)) : null,
          h("small", { class: "error", "data-field-error": f.name }),
        ),
      ),
      error,
      h("button", { type: "submit" }, t(row ? "adm.save" : "adm.create")),
      row ? h("button", { type: "button", class: "quiet", onclick: () => renderForm(null) }, t("dsk.cancel")) : null,
    );
    error.textContent = "";
    spec.onForm?.(form, row);
  }

  async function submit(event) {
    event.preventDefault();
    error.textContent = "";
    try {
      const fields = spec.fields.filter((f) => !(f.createOnly && editing));
      let body = readForm(form, fields, { editing: Boolean(editing) });
      if (spec.toBody) body = spec.toBody(body, editing);
      const saved = editing ? await spec.update(editing, body) : await spec.create(body);
      toast(t("adm.saved"));
      spec.afterSave?.(saved, Boolean(editing));
      renderForm(null);
      await reload();
    } catch (err) {
      error.textContent = err.message;
      fieldErrors(err);
    }
  }

  async function remove(row) {
    if (!window.confirm(t("adm.confirm_delete", { name: spec.name(row) }))) return;
    try {
      await spec.remove(row);
      toast(t("adm.deleted"));
      await reload();
    } catch (err) {
      toast(err.message);
    }
  }

  async function reload() {
    try {
      rows = await spec.list();
    } catch (err) {
      toast(err.message);
      rows = [];
    }
    replace(
      table,
      h("thead", {}, h("tr", {}, spec.columns.map((c) => h("th", {}, t(c.label))), h("th", {}, ""))),
      h(
        "tbody",
        {},
        rows.length
          ? rows.map((row) =>
              h(
                "tr",
                { dataset: { id: row.id ?? "" } },
                spec.columns.map((c) => h("td", {}, c.value(row))),
                h(
                  "td",
                  { class: "row-actions" },
                  spec.update ? h("button", { type: "button", class: "quiet", onclick: () => renderForm(row) }, t("adm.edit")) : null,
                  spec.remove ? h("button", { type: "button", class: "quiet warn", onclick: () => remove(row) }, t("adm.delete")) : null,
                  spec.extra ? spec.extra(row) : null,
                ),
              ),
            )
          : h("tr", {}, h("td", { colspan: spec.columns.length + 1, class: "muted" }, t("adm.empty"))),
      ),
    );
  }

  form.addEventListener("submit", submit);
  replace(root, h("h2", {}, t(spec.title)), spec.intro ? h("p", { class: "muted" }, t(spec.intro)) : null, table, form);
  renderForm(null);
  return { reload, edit: renderForm };
}
