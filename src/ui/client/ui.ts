// registry-gate web UI: the only script, loaded as a module from this server (the CSP allows
// nothing else). Copy buttons put a command on the clipboard; forms with data-confirm ask before
// they send. Everything but copying works without it. Compiled by `npm run build` (tsc) to
// dist/src/ui/client/ui.js, which is what the server reads and serves.

function announce(text: string): void {
  const region = document.getElementById('announce');
  if (region) region.textContent = text;
}

function copyWithSelection(text: string): boolean {
  const area = document.createElement('textarea');
  area.value = text;
  area.setAttribute('readonly', '');
  area.className = 'offscreen';
  document.body.appendChild(area);
  area.select();
  let copied: boolean;
  try {
    // The one way to copy where navigator.clipboard is missing (a page not served over https).
    // eslint-disable-next-line @typescript-eslint/no-deprecated
    copied = document.execCommand('copy');
  } catch {
    copied = false;
  }
  document.body.removeChild(area);
  return copied;
}

async function copy(text: string): Promise<boolean> {
  // navigator.clipboard is missing outside secure contexts, whatever the DOM types say.
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition
  if (navigator.clipboard && window.isSecureContext) {
    try {
      await navigator.clipboard.writeText(text);
      return true;
    } catch {
      return copyWithSelection(text);
    }
  }
  return copyWithSelection(text);
}

document.addEventListener('click', (event) => {
  const button = event.target instanceof Element ? event.target.closest('button[data-copy]') : null;
  if (!button) return;
  void copy(button.getAttribute('data-copy') ?? '').then((copied) => {
    // The label stays as it is (its accessible name must match it); a class marks the result.
    button.classList.remove('done', 'failed');
    button.classList.add(copied ? 'done' : 'failed');
    announce(copied ? 'Copied to the clipboard' : 'Could not copy; select the text instead');
    setTimeout(() => button.classList.remove('done', 'failed'), 1500);
  });
});

document.addEventListener('submit', (event) => {
  const form = event.target;
  const question = form instanceof HTMLFormElement ? form.getAttribute('data-confirm') : null;
  if (question && !window.confirm(question)) event.preventDefault();
});

export {};
