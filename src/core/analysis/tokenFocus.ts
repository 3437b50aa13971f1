/** What one token attends to, or is attended by, in a record: the numbers behind the panel's tooltip. Pure. */
import type { AttentionRecord } from '../attention';
import type { TokenInfo } from '../tokens';
import { meanColumn, meanRow, scopeLabel, strongest } from './summary';

/** A token on one side of a record; in the matrix view also the key of the hovered cell. */
export interface TokenTarget {
  side: 'query' | 'key';
  index: number;
  /** With `side: 'query'`: the key of one cell (query → key). */
  key?: number;
}

/** The focused token, the scope, and its strongest partners with mean weights over `heads`. */
export interface TokenFocus {
  token: TokenInfo;
  /** "attends to" for a query, "is attended by" for a key. */
  relation: string;
  scope: string;
  partners: Array<{ token: TokenInfo; index: number; weight: number }>;
}

/** The `k` strongest partners of `target` over the mean of `heads`; undefined when no head is shown. */
export function tokenFocus(r: AttentionRecord, heads: readonly number[], target: TokenTarget, k = 5): TokenFocus | undefined {
  if (heads.length === 0) return undefined;
  const query = target.side === 'query';
  const values = query ? meanRow(r, heads, target.index) : meanColumn(r, heads, target.index);
  const other = query ? r.keyTokens : r.queryTokens;
  return {
    token: (query ? r.queryTokens : r.keyTokens)[target.index],
    relation: query ? 'attends to' : 'is attended by',
    scope: scopeLabel(r, heads),
    partners: strongest(values, k).map(({ index, weight }) => ({ token: other[index], index, weight })),
  };
}
