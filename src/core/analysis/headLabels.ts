/**
 * Automatic head labels: one table of rules on the statistics, each with its threshold, so the
 * explorer, the CLI and the README say the same thing. Pure.
 */
import type { HeadStats, StatName } from './headStats';

/** One labelling rule: `stat` compared with `threshold`. */
export interface LabelRule {
  label: string;
  stat: StatName;
  op: '>=' | '<=';
  threshold: number;
  /** One or two characters for a badge on a small cell. */
  badge: string;
  /** For people: what the rule means. */
  meaning: string;
}

/** The rules, in badge order. */
export const LABEL_RULES: readonly LabelRule[] = [
  { label: 'previous-token', stat: 'previous', op: '>=', threshold: 0.5, badge: 'P', meaning: 'at least half of each token’s attention, on average, goes to the token before it' },
  { label: 'next-token', stat: 'next', op: '>=', threshold: 0.5, badge: 'N', meaning: 'at least half goes to the token after it' },
  { label: 'self', stat: 'self', op: '>=', threshold: 0.5, badge: 'S', meaning: 'at least half goes to the token itself' },
  { label: 'first-token/sink', stat: 'first', op: '>=', threshold: 0.5, badge: 'F', meaning: 'at least half goes to the first token (an attention sink)' },
  { label: 'special-token', stat: 'special', op: '>=', threshold: 0.5, badge: 'Sp', meaning: 'at least half goes to special tokens' },
  { label: 'punctuation', stat: 'punctuation', op: '>=', threshold: 0.5, badge: '.', meaning: 'at least half goes to punctuation' },
  { label: 'broad', stat: 'entropy', op: '>=', threshold: 0.85, badge: 'B', meaning: 'attention is spread out: normalised entropy at least 0.85' },
  { label: 'local', stat: 'distance', op: '<=', threshold: 2, badge: 'L', meaning: 'attention stays near: mean distance at most 2 tokens' },
  { label: 'duplicate-token', stat: 'duplicate', op: '>=', threshold: 0.5, badge: 'D', meaning: 'a token seen before gives at least half of its attention to its earlier occurrences' },
  { label: 'induction', stat: 'induction', op: '>=', threshold: 0.4, badge: 'I', meaning: 'on random tokens repeated once, each repeated token gives at least 0.4 of its attention to the token after its first occurrence' },
  { label: 'retrieval', stat: 'retrieval', op: '>=', threshold: 0.5, badge: 'R', meaning: 'in a generation, when the token written was already in the text, the head looked hardest at that earlier occurrence at least half of the time' },
];

/** "previous ≥ 0.5": the rule as a condition. */
export function ruleText(rule: LabelRule): string {
  return `${rule.stat} ${rule.op === '>=' ? '≥' : '≤'} ${rule.threshold}`;
}

/** The rules `stats` satisfies (undefined statistics satisfy none). */
export function headLabels(stats: HeadStats): LabelRule[] {
  return LABEL_RULES.filter((r) => {
    const v = stats[r.stat];
    return v !== null && (r.op === '>=' ? v >= r.threshold : v <= r.threshold);
  });
}
