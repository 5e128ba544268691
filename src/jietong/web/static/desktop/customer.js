// The customer panel (screen pop): profile, VIP tier, tags, contact points, open cases,
// the whole cross-channel timeline, and suggested merges to confirm. Everything comes
// from the domain APIs, which apply the viewer's visibility rules.

import { h, replace } from "./dom.js";

const OPEN_CASE = new Set(["new", "open", "pending"]);

export function createCustomerPanel(ctx, root) {
  let current = null; // customer id shown
  let loading = 0;

  async function show(customerId, activeInteractionId) {
    current = customerId;
    const ticket = ++loading;
    if (!customerId) {
      replace(root, h("div", { class: "placeholder" }, ctx.t("desk.customer.none")));
      return;
    }
    const base = `/api/v1/customers/${customerId}`;
    const [customer, timeline, cases, suggestions] = await Promise.all([
      ctx.api.get(base),
      ctx.api.get(`${base}/timeline?limit=50`).catch(() => ({ items: [] })),
      ctx.api.get(`/api/v1/cases?customer_id=${customerId}&limit=50`).catch(() => ({ items: [] })),
      ctx.api.get(`${base}/merge-suggestions`).catch(() => []),
    ]).catch((error) => {
      ctx.toast(error.message);
      return [null, null, null, null];
    });
    if (ticket !== loading || !customer) return; // another customer was opened meanwhile
    replace(
      root,
      profile(customer),
      openCases(cases.items.filter((c) => OPEN_CASE.has(c.status))),
      merges(customer, suggestions),
      timelineList(timeline.items, activeInteractionId),
    );
  }

  function profile(c) {
    const vip = c.vip_tier && c.vip_tier !== "none";
    return h(
      "section",
      { class: "cust-profile" },
      h("h2", {}, c.display_name, vip ? h("span", { class: `vip vip-${c.vip_tier}` }, ctx.t(`vip.${c.vip_tier}`)) : null),
      c.company ? h("p", { class: "muted" }, c.company) : null,
      c.tags.length ? h("p", { class: "tags" }, c.tags.map((tag) => h("span", { class: "tag" }, tag))) : null,
      h(
        "ul",
        { class: "points", "aria-label": ctx.t("desk.customer.contact_points") },
        c.contact_points.map((p) =>
          h("li", {}, h("span", { class: "kind" }, ctx.t(`dsk.point.${p.kind}`)), " ", p.value, p.label ? ` (${p.label})` : ""),
        ),
      ),
    );
  }

  function openCases(items) {
    return h(
      "section",
      { class: "cust-cases" },
      h("h3", {}, ctx.t("desk.customer.open_cases"), " ", h("span", { class: "count" }, items.length)),
      items.length
        ? h("ul", {}, items.map((c) => h("li", {}, `#${c.number} `, c.subject, " ", h("span", { class: "badge" }, ctx.t(`dsk.case_status.${c.status}`)))))
        : h("p", { class: "muted" }, ctx.t("desk.customer.no_cases")),
    );
  }

  function merges(customer, suggestions) {
    if (!suggestions.length) return null;
    return h(
      "section",
      { class: "cust-merges" },
      h("h3", {}, ctx.t("desk.customer.merge_suggestions")),
      h(
        "ul",
        {},
        suggestions.map((s) =>
          h(
            "li",
            {},
            h("strong", {}, s.display_name),
            " ",
            h("span", { class: "muted" }, ctx.t(`dsk.merge_reason.${s.reason}`), s.evidence ? `: ${s.evidence}` : ""),
            " ",
            h("button", { type: "button", class: "quiet", onclick: () => confirmMerge(customer, s) }, ctx.t("desk.customer.merge")),
          ),
        ),
      ),
    );
  }

  async function confirmMerge(customer, suggestion) {
    const question = ctx.t("desk.customer.merge_confirm", { loser: suggestion.display_name, survivor: customer.display_name });
    if (!window.confirm(question)) return;
    try {
      await ctx.api.post("/api/v1/customer-merges", { survivor_id: customer.id, loser_id: suggestion.customer_id });
      ctx.toast(ctx.t("desk.customer.merged"));
      await show(customer.id);
    } catch (error) {
      ctx.toast(error.message);
    }
  }

  function timelineList(items, activeId) {
    return h(
      "section",
      { class: "cust-timeline" },
      h("h3", {}, ctx.t("desk.customer.timeline")),
      h(
        "ol",
        {},
        items.map((i) =>
          h(
            "li",
            { class: i.id === activeId ? "current" : null },
            h("span", { class: `chan chan-${i.channel}` }, ctx.t(`dsk.channel.${i.channel}`)),
            " ",
            h("time", { datetime: i.arrived_at }, ctx.i18n.dateTime(i.arrived_at)),
            " ",
            i.subject ?? "",
            " ",
            h("span", { class: "badge" }, ctx.t(`dsk.istate.${i.state}`)),
          ),
        ),
      ),
    );
  }

  return {
    show,
    /** Reload if the panel shows this customer (an event said it changed). */
    refresh(customerId) {
      if (customerId && customerId === current) show(current);
    },
    get customerId() {
      return current;
    },
  };
}
