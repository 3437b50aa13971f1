// An export asked for while a long run's layers are still arriving from the native engine: the
// data formats are refused with a message (they would miss those layers); a figure of the screen is not.
import { describe, expect, it } from 'vitest';
import type { FromPanel } from '../../src/core/protocol/panel';
import { Exporter, type ExporterDeps } from '../../webview/panel/exporter';

describe('an export while the run\'s layers are arriving', () => {
  it('refuses JSON, HTML and NumPy with a message saying why and when to try again', async () => {
    for (const format of ['json', 'html', 'npz'] as const) {
      const posted: FromPanel[] = [];
      const state = { snapshot: { run: { records: [{}], onDemand: true }, layersPending: true } };
      const exporter = new Exporter({ state, post: (m: FromPanel) => void posted.push(m) } as unknown as ExporterDeps);
      await exporter.make(7, format);
      expect(posted, format).toEqual([{ type: 'export/didFail', exportId: 7, message: "the run's other layers are still arriving (1 here so far); export once they are here (the status line says when they are arriving)" }]);
    }
  });
});
