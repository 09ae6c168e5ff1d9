/**
 * A small element builder, so the views read as the markup they produce.
 */

type Child = Node | string | null | undefined | false;

/** Attributes and properties of {@link h}: `on*` functions become listeners, the rest attributes. */
export type Props = Record<string, string | number | boolean | null | undefined | ((event: never) => void)>;

/** Creates an element with attributes, listeners and children. */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, props: Props = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (typeof value === 'function') {
      element.addEventListener(name.slice(2).toLowerCase(), value as EventListener);
    } else if (value === true) {
      element.setAttribute(name, '');
    } else if (value !== false && value !== null && value !== undefined) {
      element.setAttribute(name, String(value));
    }
  }
  element.append(...children.filter((child): child is Node | string => child !== null && child !== undefined && child !== false));
  return element;
}

/** Replaces the children of `parent`. */
export function replaceChildren(parent: Element, ...children: Child[]): void {
  parent.replaceChildren(...children.filter((child): child is Node | string => child !== null && child !== undefined && child !== false));
}

/** Formats an ISO 8601 time as hours and minutes in the viewer's locale. */
export function shortTime(iso: string): string {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? '' : date.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

/** Returns the message of a thrown value. */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Lays out a safety number's groups of 5 digits in `columns` columns. The
 * groups stay separated by spaces in the text, for copying and screen readers.
 */
export function digitGroups(formatted: string, columns: number, props: Props = {}): HTMLElement {
  const element = h('p', { ...props, class: `digits ${String(props.class ?? '')}`.trim(), style: `--columns: ${columns}` });
  formatted.split(' ').forEach((group, index) => {
    if (index > 0) {
      element.append(' ');
    }
    element.append(h('span', {}, group));
  });
  return element;
}
