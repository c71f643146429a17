// qualgent pages: a few behaviours, no framework. Loaded with `defer` on every page.
"use strict";

function csrfToken() {
  return document.body.dataset.csrf || "";
}

// <button data-copy="element-id">: copies that element's text.
document.addEventListener("click", async (event) => {
  const button = event.target.closest("[data-copy]");
  if (!button) return;
  const source = document.getElementById(button.dataset.copy);
  try {
    await navigator.clipboard.writeText(source.textContent.trim());
    button.textContent = "Copied";
  } catch (err) {
    const range = document.createRange();
    range.selectNodeContents(source);
    window.getSelection().removeAllRanges();
    window.getSelection().addRange(range);
    button.textContent = "Selected: press Ctrl+C";
  }
});

// <form data-confirm="Delete this?">: asks before submitting.
document.addEventListener("submit", (event) => {
  const form = event.target;
  if (form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
    event.preventDefault();
  }
});

// <div data-live-url="/fragment" data-live-every="1500">: replaced by the fragment the URL
// answers, again and again, until the fragment comes without data-live-url (finished).
function live(element) {
  const every = Number(element.dataset.liveEvery || 1500);
  const refresh = async () => {
    let response;
    try {
      response = await fetch(element.dataset.liveUrl, {headers: {"Accept": "text/html"}});
    } catch (err) {
      setTimeout(refresh, every * 2);
      return;
    }
    if (!response.ok) {
      setTimeout(refresh, every * 2);
      return;
    }
    const holder = document.createElement("div");
    holder.innerHTML = await response.text();
    const next = holder.firstElementChild;
    if (!next) return;
    const focusedId = document.activeElement && document.activeElement.id;
    // Live regions keep their node (a region swapped in anew is often not announced): the
    // old node moves into the new fragment and takes the new text.
    next.querySelectorAll("[aria-live][id]").forEach((fresh) => {
      const known = element.querySelector("#" + CSS.escape(fresh.id));
      if (!known) return;
      known.textContent = fresh.textContent;
      fresh.replaceWith(known);
    });
    element.replaceWith(next);
    if (focusedId) {
      const again = document.getElementById(focusedId);
      if (again) again.focus();
    }
    element = next;
    document.dispatchEvent(new CustomEvent("qualgent:updated", {detail: next}));
    if (next.dataset.liveUrl) setTimeout(refresh, every);
  };
  setTimeout(refresh, every);
}

// <form data-upload data-done="/builds">: sent by XHR so a <progress> can show the upload.
function upload(form) {
  const bar = form.querySelector("progress");
  const message = form.querySelector("[data-upload-message]");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const request = new XMLHttpRequest();
    request.open("POST", form.action);
    request.setRequestHeader("X-CSRF-Token", csrfToken());
    request.upload.addEventListener("progress", (e) => {
      if (e.lengthComputable && bar) {
        bar.max = e.total;
        bar.value = e.loaded;
        bar.textContent = Math.round(100 * e.loaded / e.total) + "%";
      }
    });
    request.addEventListener("load", () => {
      if (request.status >= 200 && request.status < 300) {
        window.location.assign(form.dataset.done);
        return;
      }
      let text = "The upload failed (" + request.status + ").";
      try { text = JSON.parse(request.responseText).message || text; } catch (err) { /* */ }
      message.textContent = text;
    });
    request.addEventListener("error", () => {
      message.textContent = "The upload failed: the connection was lost.";
    });
    message.textContent = "Uploading…";
    if (bar) bar.hidden = false;
    request.send(new FormData(form));
  });
}

document.querySelectorAll("[data-live-url]").forEach(live);
document.querySelectorAll("form[data-upload]").forEach(upload);
