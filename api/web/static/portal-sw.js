/*
 * The employee portal's service worker: keeps the app shell (styles, scripts, icons, an offline page) so the
 * installed app opens without a network. It never stores pages or API answers: tickets, comments and
 * conversations are personal and always come from the server. Navigations that fail offline get the offline page.
 */
"use strict";

var CACHE = "deskmate-portal-shell-v1";
var SHELL = ["/portal.css", "/portal.js", "/widget.js", "/widget.css", "/portal/offline.html",
             "/portal/icon.svg", "/portal/icon-192.png", "/portal/icon-512.png", "/manifest.webmanifest"];

self.addEventListener("install", function (event) {
  event.waitUntil(caches.open(CACHE).then(function (cache) { return cache.addAll(SHELL); }));
});

self.addEventListener("activate", function (event) {
  event.waitUntil(caches.keys().then(function (names) {
    return Promise.all(names.filter(function (name) {
      return name.indexOf("deskmate-portal-") === 0 && name !== CACHE;
    }).map(function (name) { return caches.delete(name); }));
  }));
});

self.addEventListener("fetch", function (event) {
  var request = event.request;
  if (request.method !== "GET") return;
  var url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (request.mode === "navigate") {
    // Pages hold ticket data: always from the network, never cached; offline, the shell's offline page.
    event.respondWith(fetch(request).catch(function () { return caches.match("/portal/offline.html"); }));
    return;
  }
  if (SHELL.indexOf(url.pathname) === -1) return;  // API calls and everything else: the browser's own way
  // Shell files: the network first (they are unversioned), the cached copy when offline.
  event.respondWith(fetch(request).then(function (response) {
    if (response.ok) {
      var copy = response.clone();
      caches.open(CACHE).then(function (cache) { cache.put(request, copy); });
    }
    return response;
  }).catch(function () { return caches.match(request); }));
});
