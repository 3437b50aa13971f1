/** Scripts and stylesheets written inside an HTML page (the webviews, the HTML report). Pure. */

/**
 * `text` made safe inside a `<script>` or `<style>` element: no sequence in it can close the
 * element early (`</script` and `</style` become `<\/…`: the same characters inside a JavaScript
 * string, template or regular expression, and never valid JavaScript or CSS outside one).
 */
export function inlineSafe(text: string): string {
  return text.replace(/<\/(?=script|style)/gi, '<\\/');
}
