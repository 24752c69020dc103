//! Email texts: pure functions of a notification kind, a language and the facts to show, giving
//! a subject, a plain-text body and an HTML body. Every value is HTML-escaped in the HTML part.
//! Adding a kind is one arm in `content`.
use chrono::NaiveDate;

use crate::domain::{Credits, Money, NotificationKind};

/// The languages emails are written in; a tenant's `locale` picks one (`pt*` is Portuguese,
/// anything else English).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    PtBr,
    En,
}

impl Lang {
    pub fn of_locale(locale: &str) -> Self {
        if locale.to_ascii_lowercase().starts_with("pt") {
            Lang::PtBr
        } else {
            Lang::En
        }
    }

    /// The `Content-Language` of emails in this language.
    pub fn tag(self) -> &'static str {
        match self {
            Lang::PtBr => "pt-BR",
            Lang::En => "en",
        }
    }

    fn pick<'a>(self, pt: &'a str, en: &'a str) -> &'a str {
        match self {
            Lang::PtBr => pt,
            Lang::En => en,
        }
    }

    fn date(self, d: NaiveDate) -> String {
        match self {
            Lang::PtBr => d.format("%d/%m/%Y").to_string(),
            Lang::En => d.format("%Y-%m-%d").to_string(),
        }
    }

    fn money(self, m: Money) -> String {
        m.format(self.tag())
    }
}

/// What an email may show, gathered by the sender; a kind uses the facts it needs and reads a
/// missing one as unknown.
#[derive(Clone, Debug, Default)]
pub struct Facts {
    pub tenant_name: String,
    pub invoice_number: Option<String>,
    pub amount: Option<Money>,
    pub due_date: Option<NaiveDate>,
    /// The next payment attempt (payment failed), or the trial's end (trial ending).
    pub date: Option<NaiveDate>,
    /// A usage limit's metric.
    pub metric: Option<String>,
    pub balance: Option<Credits>,
    /// Credits a top-up added.
    pub credits: Option<Credits>,
    /// The SPA page the email points to (`BILLING_PUBLIC_URL` based).
    pub link: String,
    /// A disabled webhook endpoint's URL.
    pub endpoint_url: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// Subject, paragraphs and the label of the link of one email.
struct Content {
    subject: String,
    paragraphs: Vec<String>,
    action: String,
}

pub fn render(kind: NotificationKind, lang: Lang, f: &Facts) -> Rendered {
    let c = content(kind, lang, f);
    let greeting = match lang {
        Lang::PtBr => format!("Olá, {}.", f.tenant_name),
        Lang::En => format!("Hello {},", f.tenant_name),
    };
    let footer = lang.pick(
        "Você recebe este email porque é responsável pela cobrança desta conta.",
        "You receive this email because you look after billing for this account.",
    );
    let mut text = format!("{greeting}\n\n");
    for p in &c.paragraphs {
        text.push_str(p);
        text.push_str("\n\n");
    }
    text.push_str(&format!("{}: {}\n\n-- \n{footer}\n", c.action, f.link));
    let mut html = format!(
        "<!DOCTYPE html>\n<html lang=\"{}\"><head><meta charset=\"utf-8\"><title>{}</title></head><body>\n<p>{}</p>\n",
        lang.tag(),
        escape(&c.subject),
        escape(&greeting)
    );
    for p in &c.paragraphs {
        html.push_str(&format!("<p>{}</p>\n", escape(p)));
    }
    html.push_str(&format!(
        "<p><a href=\"{}\">{}</a></p>\n<hr><p><small>{}</small></p>\n</body></html>\n",
        escape(&f.link),
        escape(&c.action),
        escape(footer)
    ));
    Rendered {
        subject: c.subject,
        text,
        html,
    }
}

fn content(kind: NotificationKind, lang: Lang, f: &Facts) -> Content {
    let l = lang;
    let number = f.invoice_number.clone().unwrap_or_default();
    let amount = f.amount.map(|m| l.money(m)).unwrap_or_default();
    let due = f.due_date.map(|d| l.date(d)).unwrap_or_default();
    let date = f.date.map(|d| l.date(d));
    let balance = f.balance.map(|b| b.to_string()).unwrap_or_default();
    let see_invoice = l.pick("Ver a fatura", "View the invoice").to_owned();
    let (subject, paragraphs, action) = match kind {
        NotificationKind::InvoiceFinalized => (
            match l {
                Lang::PtBr => format!("Fatura {number} emitida"),
                Lang::En => format!("Invoice {number} issued"),
            },
            vec![match l {
                Lang::PtBr => format!(
                    "A fatura {number} de {amount} foi emitida, com vencimento em {due}. O PDF segue em anexo."
                ),
                Lang::En => format!(
                    "Invoice {number} for {amount} was issued and is due on {due}. The PDF is attached."
                ),
            }],
            see_invoice,
        ),
        NotificationKind::PaymentSucceeded => (
            match l {
                Lang::PtBr => format!("Recibo do pagamento da fatura {number}"),
                Lang::En => format!("Receipt for invoice {number}"),
            },
            vec![match l {
                Lang::PtBr => format!("Recebemos {amount} referente à fatura {number}. Obrigado!"),
                Lang::En => format!("We received {amount} for invoice {number}. Thank you!"),
            }],
            see_invoice,
        ),
        NotificationKind::PaymentFailed => (
            match l {
                Lang::PtBr => format!("Falha no pagamento da fatura {number}"),
                Lang::En => format!("Payment of invoice {number} failed"),
            },
            vec![
                match l {
                    Lang::PtBr => format!("Não conseguimos cobrar {amount} da fatura {number}."),
                    Lang::En => format!("We could not collect {amount} for invoice {number}."),
                },
                match (l, date) {
                    (Lang::PtBr, Some(d)) => format!("Tentaremos novamente em {d}."),
                    (Lang::En, Some(d)) => format!("We will try again on {d}."),
                    (Lang::PtBr, None) => "Não haverá nova tentativa automática.".into(),
                    (Lang::En, None) => "We will not try again automatically.".into(),
                },
            ],
            l.pick("Atualizar o cartão", "Update your card").to_owned(),
        ),
        NotificationKind::PaymentActionRequired => (
            match l {
                Lang::PtBr => format!("Confirme o pagamento da fatura {number}"),
                Lang::En => format!("Confirm the payment of invoice {number}"),
            },
            vec![match l {
                Lang::PtBr => format!(
                    "O seu banco pede uma confirmação (3-D Secure) para o pagamento de {amount} da fatura {number}."
                ),
                Lang::En => format!(
                    "Your bank asks you to confirm (3-D Secure) the payment of {amount} for invoice {number}."
                ),
            }],
            l.pick("Confirmar o pagamento", "Confirm the payment").to_owned(),
        ),
        NotificationKind::PaymentMethodRequired => (
            match l {
                Lang::PtBr => format!("Adicione um meio de pagamento para a fatura {number}"),
                Lang::En => format!("Add a payment method for invoice {number}"),
            },
            vec![match l {
                Lang::PtBr => format!(
                    "A fatura {number} de {amount} não pode ser cobrada: não há meio de pagamento."
                ),
                Lang::En => format!(
                    "Invoice {number} for {amount} cannot be collected: there is no payment method."
                ),
            }],
            l.pick("Adicionar um cartão", "Add a card").to_owned(),
        ),
        NotificationKind::InvoiceOverdue => (
            match l {
                Lang::PtBr => format!("Fatura {number} vencida"),
                Lang::En => format!("Invoice {number} is overdue"),
            },
            vec![match l {
                Lang::PtBr => {
                    format!("A fatura {number} de {amount} venceu em {due} e ainda não foi paga.")
                }
                Lang::En => format!("Invoice {number} for {amount} was due on {due} and is unpaid."),
            }],
            see_invoice,
        ),
        NotificationKind::TrialEnding => (
            l.pick("Seu período de teste está terminando", "Your trial is ending")
                .to_owned(),
            vec![match l {
                Lang::PtBr => format!(
                    "O período de teste termina em {}. Depois disso a assinatura passa a ser cobrada.",
                    date.unwrap_or_default()
                ),
                Lang::En => format!(
                    "The trial ends on {}. After that the subscription is charged.",
                    date.unwrap_or_default()
                ),
            }],
            l.pick("Ver a assinatura", "View the subscription").to_owned(),
        ),
        NotificationKind::UsageLimit80 | NotificationKind::UsageLimit100 => {
            let percent = if kind == NotificationKind::UsageLimit80 { 80 } else { 100 };
            let metric = f.metric.clone().unwrap_or_default();
            (
                match l {
                    Lang::PtBr => format!("Uso em {percent}% do limite do plano"),
                    Lang::En => format!("Usage at {percent}% of the plan's limit"),
                },
                vec![match l {
                    Lang::PtBr => {
                        format!("O uso de {metric} chegou a {percent}% do limite do seu plano.")
                    }
                    Lang::En => format!("Usage of {metric} reached {percent}% of your plan's limit."),
                }],
                l.pick("Ver o uso", "View usage").to_owned(),
            )
        }
        NotificationKind::LowBalance => (
            l.pick("Saldo de créditos baixo", "Low credit balance")
                .to_owned(),
            vec![match l {
                Lang::PtBr => format!("Seu saldo é de {balance} créditos. Compre mais para não parar."),
                Lang::En => format!("Your balance is {balance} credits. Top up to keep going."),
            }],
            l.pick("Comprar créditos", "Buy credits").to_owned(),
        ),
        NotificationKind::CreditsDepleted => (
            l.pick("Seus créditos acabaram", "Your credits are used up")
                .to_owned(),
            vec![
                l.pick(
                    "O saldo de créditos chegou a zero: o uso pago com créditos está parado até uma recarga.",
                    "The credit balance reached zero: usage paid with credits is stopped until you top up.",
                )
                .to_owned(),
            ],
            l.pick("Comprar créditos", "Buy credits").to_owned(),
        ),
        NotificationKind::WebhookEndpointDisabled => {
            let url = f.endpoint_url.clone().unwrap_or_default();
            (
                l.pick("Endpoint de webhook desativado", "Webhook endpoint disabled")
                    .to_owned(),
                vec![match l {
                    Lang::PtBr => format!(
                        "O endpoint {url} falhou por {} dias seguidos e foi desativado. Corrija-o e ative-o de novo para voltar a receber eventos.",
                        crate::domain::WEBHOOK_DISABLE_AFTER_DAYS
                    ),
                    Lang::En => format!(
                        "The endpoint {url} failed for {} days in a row and was disabled. Fix it and enable it again to receive events.",
                        crate::domain::WEBHOOK_DISABLE_AFTER_DAYS
                    ),
                }],
                l.pick("Ver os webhooks", "View webhooks").to_owned(),
            )
        }
        NotificationKind::TopupCompleted => {
            let credits = f.credits.map(|c| c.to_string()).unwrap_or_default();
            (
                l.pick("Recarga de créditos concluída", "Credit top-up completed")
                    .to_owned(),
                vec![match l {
                    Lang::PtBr => {
                        format!("{credits} créditos foram adicionados. Novo saldo: {balance}.")
                    }
                    Lang::En => format!("{credits} credits were added. New balance: {balance}."),
                }],
                l.pick("Ver os créditos", "View credits").to_owned(),
            )
        }
    };
    Content {
        subject,
        paragraphs,
        action,
    }
}

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for ch in raw.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Currency;

    fn facts() -> Facts {
        Facts {
            tenant_name: "Acme <script>".into(),
            invoice_number: Some("2026-000001".into()),
            amount: Some(Money::new(123_456, Currency::BRL)),
            due_date: NaiveDate::from_ymd_opt(2026, 1, 8),
            link: "https://app.example.com/invoices/x?a=1&b=2".into(),
            ..Facts::default()
        }
    }

    #[test]
    fn every_kind_renders_in_both_languages_with_distinct_texts() {
        for &kind in NotificationKind::ALL {
            let pt = render(kind, Lang::PtBr, &facts());
            let en = render(kind, Lang::En, &facts());
            assert!(!pt.subject.is_empty() && !en.subject.is_empty(), "{kind:?}");
            assert_ne!(pt.subject, en.subject, "{kind:?}");
            assert!(pt.html.contains("lang=\"pt-BR\""), "{kind:?}");
            assert!(en.html.contains("lang=\"en\""), "{kind:?}");
        }
    }

    #[test]
    fn values_are_escaped_in_html_but_not_in_text() {
        let r = render(NotificationKind::InvoiceFinalized, Lang::PtBr, &facts());
        assert!(r.html.contains("Acme &lt;script&gt;"));
        assert!(!r.html.contains("<script>"));
        assert!(r.html.contains("x?a=1&amp;b=2"));
        assert!(r.text.contains("Acme <script>"));
        assert!(r.text.contains("R$ 1.234,56") && r.text.contains("08/01/2026"));
    }

    #[test]
    fn locale_picks_the_language() {
        assert_eq!(Lang::of_locale("pt-BR"), Lang::PtBr);
        assert_eq!(Lang::of_locale("pt"), Lang::PtBr);
        assert_eq!(Lang::of_locale("en-US"), Lang::En);
        assert_eq!(Lang::of_locale("es"), Lang::En);
    }
}
