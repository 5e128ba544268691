/*
 * Jietong web chat — the one script tag a site embeds:
 *
 *   <script src="https://jietong.example/static/widget/jietong-chat.js"
 *           data-widget-key="…" async></script>
 *
 * Optional attributes: data-locale="zh-CN|en", and for signed-in users of the site
 * data-user-id + data-user-hash (hex HMAC-SHA256 of the user id with the widget's
 * identity secret, computed on the site's server), data-name, data-email.
 *
 * This file is a classic script on purpose: only classic scripts can find their own
 * tag (document.currentScript) to read those attributes and learn where Jietong lives.
 * Everything else is ES modules (the files next to this one), loaded with import() from
 * the Jietong origin, so sites need no build step and no CDN, and a strict CSP
 * (script-src 'self' or the Jietong origin) is enough.
 */
(function () {
  "use strict";
  var tag = document.currentScript;
  if (!tag || !tag.dataset.widgetKey) {
    console.error("jietong-chat: the script tag needs data-widget-key");
    return;
  }
  if (window.__jietongChat) {
    return; // embedded twice: one widget is enough
  }
  window.__jietongChat = true;
  var origin = new URL(tag.src).origin;
  // The modules come from Jietong's asset route rather than /static: a page on another
  // site may import a module from us only if the answer carries CORS headers.
  var base = new URL("/api/v1/channels/chat/assets/", origin);
  var options = {
    key: tag.dataset.widgetKey,
    origin: origin,
    base: base.href,
    locale: tag.dataset.locale || null,
    userId: tag.dataset.userId || null,
    userHash: tag.dataset.userHash || null,
    name: tag.dataset.name || null,
    email: tag.dataset.email || null,
  };
  import(new URL("widget.js", base).href)
    .then(function (module) {
      module.start(options);
    })
    .catch(function (error) {
      console.error("jietong-chat: could not load the widget", error);
    });
})();
