// Job page: poll the status URL until the job is done or failed, then reload to show the result.
(function () {
  var el = document.getElementById("job");
  if (!el) return;
  var url = el.getAttribute("data-status-url");
  var status = el.getAttribute("data-status");
  if (status === "done" || status === "failed") return;
  var bar = document.getElementById("job-progress");
  var text = document.getElementById("job-status");
  function poll() {
    fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.json(); })
      .then(function (j) {
        bar.value = j.progress;
        text.textContent = "Status: " + j.status + " (" + Math.round(j.progress * 100) + "%)";
        if (j.status === "done" || j.status === "failed") { window.location.reload(); }
        else { setTimeout(poll, 700); }
      })
      .catch(function () { setTimeout(poll, 2000); });
  }
  setTimeout(poll, 500);
})();
