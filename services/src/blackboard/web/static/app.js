// Blackboard's one script. The pages work without it; with it, times show in the viewer's
// time zone, and an upload checks its size limit before sending and shows its progress.
"use strict";

document.querySelectorAll("time[datetime]").forEach((t) => {
  const d = new Date(t.getAttribute("datetime"));
  if (!isNaN(d)) t.textContent = d.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
});

document.querySelectorAll("form.upload").forEach((form) => {
  const input = form.querySelector("input[type=file]");
  const bar = form.querySelector("progress");
  const out = form.querySelector("output");
  const max = Number(input.dataset.max);
  input.addEventListener("change", () => {
    const f = input.files[0];
    input.setCustomValidity(f && f.size > max ? `This file is ${f.size} bytes; the limit is ${max} bytes.` : "");
    input.reportValidity();
  });
  form.addEventListener("submit", (e) => {
    if (!window.XMLHttpRequest || !form.checkValidity()) return;
    e.preventDefault();
    const xhr = new XMLHttpRequest();
    xhr.open("POST", form.action);
    bar.hidden = false;
    xhr.upload.addEventListener("progress", (p) => {
      if (p.lengthComputable) { bar.value = (100 * p.loaded) / p.total; out.textContent = `${Math.floor(bar.value)}%`; }
    });
    // Blackboard answers a stored upload by sending the browser to its receipt's page.
    xhr.addEventListener("load", () => {
      if (xhr.status < 400 && xhr.responseURL) { window.location.assign(xhr.responseURL); return; }
      // A refusal: show Blackboard's page saying why.
      const page = new DOMParser().parseFromString(xhr.responseText, "text/html").querySelector("main");
      if (page) document.querySelector("main").replaceWith(page);
      else out.textContent = `Not stored (${xhr.status}): submit again.`;
    });
    xhr.addEventListener("error", () => { out.textContent = "The upload failed: check your connection and submit again."; });
    xhr.send(new FormData(form));
  });
});
