// Copy buttons: <button type="button" data-copy="input-id" hidden>Copy</button> copies that
// field's value. Without JavaScript the button stays hidden and the field can be selected.
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("button[data-copy]").forEach(function (button) {
    var field = document.getElementById(button.getAttribute("data-copy"));
    if (!field || !navigator.clipboard) return;
    var label = button.textContent;
    var status = document.getElementById(button.getAttribute("data-copy") + "-copied");
    button.hidden = false;
    button.addEventListener("click", function () {
      navigator.clipboard.writeText(field.value).then(function () {
        button.textContent = "Copied";
        if (status) status.textContent = "Copied to the clipboard";
        setTimeout(function () { button.textContent = label; }, 2000);
      });
    });
  });
});
