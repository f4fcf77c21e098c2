// dialog.js - the confirmation every state-changing button asks for: the page's own <dialog>
// (not window.confirm), so it reads like the rest of the page and a test can click it.
// confirmAction({title, text, extra, yes}) -> Promise<boolean>.

export function confirmAction({title, text, extra, yes}) {
  const dlg = document.getElementById('confirm');
  document.getElementById('confirm-title').textContent = title;
  document.getElementById('confirm-text').textContent = text || '';
  const slot = document.getElementById('confirm-extra');
  slot.replaceChildren(...(extra ? [extra] : []));
  const yesBtn = document.getElementById('confirm-yes');
  const noBtn = document.getElementById('confirm-no');
  yesBtn.textContent = yes || 'Confirm';
  return new Promise((resolve) => {
    const done = (answer) => {
      yesBtn.removeEventListener('click', onYes);
      noBtn.removeEventListener('click', onNo);
      dlg.removeEventListener('cancel', onNo);
      if (dlg.open) dlg.close();
      resolve(answer);
    };
    const onYes = () => done(true);
    const onNo = () => done(false);
    yesBtn.addEventListener('click', onYes);
    noBtn.addEventListener('click', onNo);
    dlg.addEventListener('cancel', onNo); // Escape
    dlg.showModal();
    noBtn.focus();
  });
}
