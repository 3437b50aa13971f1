/** Canvases the views stack inside their hosts. Browser only. */

/** Appends a canvas with class `className` to `parent`; hidden from assistive technology (the views give text forms). */
export function addCanvas(parent: HTMLElement, className: string): HTMLCanvasElement {
  const c = document.createElement('canvas');
  c.className = className;
  c.setAttribute('aria-hidden', 'true');
  parent.appendChild(c);
  return c;
}
