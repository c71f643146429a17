// The results page: a live refresh (app.js's data-live-url) brings every step again, with its
// screenshot link signed afresh; keep the screenshots already shown instead of fetching and
// repainting them every time.
"use strict";

const shown = new Map();

function keep(img) {
  if (img.dataset.shot && img.complete && img.naturalWidth > 0) shown.set(img.dataset.shot, img);
}

document.querySelectorAll("img[data-shot]").forEach(keep);
document.addEventListener("load", (event) => {
  if (event.target instanceof HTMLImageElement) keep(event.target);
}, true);
document.addEventListener("qualgent:updated", (event) => {
  event.detail.querySelectorAll("img[data-shot]").forEach((img) => {
    const old = shown.get(img.dataset.shot);
    if (old && old !== img) img.replaceWith(old);
  });
});
