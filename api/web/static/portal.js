/*
 * The employee portal's script (api/web/templates/portal/base.html); no inline scripts, the CSP allows none.
 *
 * 1. Tells the chat widget it runs on a phone: as the installed app (display-mode standalone, or iOS's
 *    navigator.standalone) or on a screen at most 600 CSS px wide. The widget then starts its conversations with
 *    client "mobile" and their tickets carry source MOBILE (docs/portal.md). This script runs before widget.js
 *    (both are deferred, in document order), so the attribute is there when the widget reads it.
 * 2. Registers the app-shell service worker (/portal-sw.js) for the portal's pages.
 */
(function () {
  "use strict";

  var installed = window.matchMedia("(display-mode: standalone)").matches || window.navigator.standalone === true;
  var phone = window.matchMedia("(max-width: 600px)").matches;
  var widget = document.getElementById("deskmate-widget-script");
  if (widget && (installed || phone)) widget.setAttribute("data-deskmate-client", "mobile");

  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register("/portal-sw.js", { scope: "/me" }).catch(function () {
      /* no offline shell (private mode, or an http origin other than localhost): the portal works without */
    });
  }
})();
