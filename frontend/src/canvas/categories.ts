/** A CSS class per catalog category (colors live in styles.css, per theme). */
export function categoryClass(category: string): string {
  return `cat-${category.toLowerCase().replace(/[^a-z]+/g, "-").replace(/^-|-$/g, "")}`;
}
