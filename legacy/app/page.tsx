export default function Home() {
  return <main>Customer-operations dashboard API. See /api/health.</main>;
}
