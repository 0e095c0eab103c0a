// registry-gate web UI: the only script, loaded from this server (the CSP allows nothing else).
// Copy buttons put a command on the clipboard; forms with data-confirm ask before they send.
// Everything works without it, save copying.
'use strict';

(function () {
  function announce(text) {
    var region = document.getElementById('announce');
    if (region) region.textContent = text;
  }

  function copyWithSelection(text) {
    var area = document.createElement('textarea');
    area.value = text;
    area.setAttribute('readonly', '');
    area.className = 'offscreen';
    document.body.appendChild(area);
    area.select();
    var copied = false;
    try {
      copied = document.execCommand('copy');
    } catch (error) {
      copied = false;
    }
    document.body.removeChild(area);
    return copied;
  }

  function copy(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text).then(
        function () { return true; },
        function () { return copyWithSelection(text); }
      );
    }
    return Promise.resolve(copyWithSelection(text));
  }

  document.addEventListener('click', function (event) {
    var button = event.target instanceof Element ? event.target.closest('button[data-copy]') : null;
    if (!button) return;
    copy(button.getAttribute('data-copy') || '').then(function (copied) {
      // The label stays as it is (its accessible name must match it); a class marks the result.
      button.classList.remove('done', 'failed');
      button.classList.add(copied ? 'done' : 'failed');
      announce(copied ? 'Copied to the clipboard' : 'Could not copy; select the text instead');
      setTimeout(function () {
        button.classList.remove('done', 'failed');
      }, 1500);
    });
  });

  document.addEventListener('submit', function (event) {
    var form = event.target;
    var question = form instanceof HTMLFormElement ? form.getAttribute('data-confirm') : null;
    if (question && !window.confirm(question)) event.preventDefault();
  });
})();
