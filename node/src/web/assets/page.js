// The explorer's only script: copy buttons, and a live refresh of pages that ask for one.
// Pages read the same without it.
"use strict";

function enableCopyButtons(root) {
  if (!navigator.clipboard) return;
  for (const button of root.querySelectorAll("button.copy[data-copy]")) {
    button.hidden = false;
    button.addEventListener("click", () => {
      navigator.clipboard.writeText(button.dataset.copy).then(
        () => { button.textContent = "Copied"; },
        () => { button.textContent = "Copy failed"; });
    });
  }
}

// Short polling: a small JSON every few seconds, and the page's main part
// fetched again only when the tip, the pool or the peers changed.
function watch(main) {
  const seconds = 3;
  let busy = false;
  setInterval(async () => {
    if (busy || document.hidden) return;
    busy = true;
    try {
      const live = await (await fetch(main.dataset.live, { cache: "no-store" })).json();
      const same = live.tip === main.dataset.tip &&
        String(live.pending) === main.dataset.pending &&
        String(live.peers) === main.dataset.peers;
      if (!same) {
        const html = await (await fetch(location.href, { cache: "no-store" })).text();
        const fresh = new DOMParser().parseFromString(html, "text/html").querySelector("main");
        if (fresh) {
          main.replaceWith(fresh);
          main = fresh;
          enableCopyButtons(main);
        }
      }
    } catch (_) {
      // The node may be restarting; the next tick tries again.
    } finally {
      busy = false;
    }
  }, seconds * 1000);
}

document.addEventListener("DOMContentLoaded", () => {
  enableCopyButtons(document);
  const main = document.querySelector("main[data-live]");
  if (main) watch(main);
});
