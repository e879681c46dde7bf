//! Generating `impl AgentLifecycle<Agent>` from the validated handlers.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned, ToTokens};

use super::attr::Args;
use super::kinds::{Category, Kind};
use super::model::{by_lane, Handler, LaneHandlers};
use crate::generics::where_clause;
use crate::root::tidal_root;
use crate::spans::{first_span, respan};

/// Paths into the runtime, as seen from the user's crate.
struct Paths {
    agent: syn::Type,
    lifecycle: TokenStream,
    dispatch: TokenStream,
    handlers: TokenStream,
}

pub(crate) fn expand(args: &Args, item: &syn::ItemImpl, handlers: &[Handler]) -> TokenStream {
    let root = tidal_root(args.root.as_ref());
    let paths = Paths {
        agent: args.agent.clone(),
        lifecycle: quote!(#root::agent::agent_lifecycle),
        dispatch: quote!(#root::agent::agent_lifecycle::dispatch),
        handlers: quote!(#root::agent::event_handler),
    };
    let agent = &args.agent;
    let self_ty = &item.self_ty;
    let Paths {
        lifecycle,
        handlers: event_handler,
        ..
    } = &paths;
    let result = quote!(::core::result::Result<(), #event_handler::EventHandlerError>);
    let runner_bound = quote!(#lifecycle::HandlerRunner<#agent>);

    let simple = |kind: Kind, name: TokenStream| {
        handlers.iter().find(|h| h.kind == kind).map(|handler| {
            let call = call(&paths, handler, quote!());
            let run = run(&paths, call);
            quote! {
                fn #name<__R: #runner_bound>(&self, __runner: &mut __R) -> #result {
                    #run
                }
            }
        })
    };
    let init = simple(Kind::Init, quote!(run_init));
    let start = simple(Kind::Start, quote!(run_start));
    let stop = simple(Kind::Stop, quote!(run_stop));
    let timer = handlers
        .iter()
        .find(|h| h.kind == Kind::Timer)
        .map(|handler| {
            let id = owned(&paths, &handler.params[0], quote!(__id));
            let call = call(&paths, handler, quote!(, #id));
            let run = run(&paths, call);
            quote! {
                fn run_timer<__R: #runner_bound>(&self, __id: u64, __runner: &mut __R) -> #result {
                    #run
                }
            }
        });
    let attach = join_lifecycles(&paths, handlers);
    let lanes = by_lane(handlers);
    let item_event = (!lanes.is_empty()).then(|| {
        let branches = lanes.iter().map(|lane| lane_branch(&paths, lane));
        quote! {
            fn run_item_event<__R: #runner_bound>(
                &self,
                __agent: &#agent,
                __id: u64,
                __runner: &mut __R,
            ) -> #result {
                #(#branches)*
                ::core::result::Result::Ok(())
            }
        }
    });
    quote! {
        #[automatically_derived]
        impl #lifecycle::AgentLifecycle<#agent> for #self_ty {
            #attach
            #init
            #start
            #stop
            #timer
            #item_event
        }
    }
}

/// For an input with errors: `AgentLifecycle` with its default (empty) handlers, for the agent
/// type if it is known and for every agent type otherwise, so that uses of the lifecycle compile
/// and the user sees only the errors themselves.
pub(crate) fn fallback(
    args: Option<&Args>,
    generics: &syn::Generics,
    self_ty: &syn::Type,
) -> TokenStream {
    let root = tidal_root(args.and_then(|args| args.root.as_ref()));
    let mut generics = generics.clone();
    let agent = match args {
        Some(args) => args.agent.to_token_stream(),
        None => {
            generics.params.push(syn::parse_quote!(__Agent));
            quote!(__Agent)
        }
    };
    let (impl_generics, _, _) = generics.split_for_impl();
    let mut where_clause = where_clause(&generics);
    where_clause
        .predicates
        .push(syn::parse_quote!(#self_ty: ::core::marker::Send + 'static));
    quote! {
        #[automatically_derived]
        impl #impl_generics #root::agent::agent_lifecycle::AgentLifecycle<#agent> for #self_ty
        #where_clause
        {}
    }
}

/// `<Self>::method(self, context, <extra arguments>)`, checked to return an event handler: if it
/// does not, the one error points at the method's return type (see `dispatch::Returned`).
fn call(paths: &Paths, handler: &Handler, arguments: TokenStream) -> TokenStream {
    let dispatch = &paths.dispatch;
    let agent = &paths.agent;
    let method = &handler.method;
    let context = &handler.context;
    let first = first_span(context);
    let context_as = respan(quote!(context_as), first);
    let context = quote_spanned!(first=> #dispatch::#context_as::<#agent, #context>());
    let call = quote!(<Self>::#method(self, #context #arguments));
    if !handler.kind.returns_event_handler() {
        // A handler that computes the lane's value: the dispatch function checks what it
        // completes with.
        return call;
    }
    // The whole expression at the return type, so that is where the error points.
    let returned = respan(quote!(#dispatch::Returned), handler.output_span);
    let checked =
        quote_spanned!(handler.output_span=> #returned::<#agent, _>::new(#call).handler());
    quote!({
        #[allow(unused_imports)]
        use #dispatch::{IsHandler as _, NotHandler as _};
        #checked
    })
}

/// `attach`, which gives each join lane the lifecycle of its links.
fn join_lifecycles(paths: &Paths, handlers: &[Handler]) -> Option<TokenStream> {
    let dispatch = &paths.dispatch;
    let agent = &paths.agent;
    let attaches: Vec<TokenStream> = handlers
        .iter()
        .filter(|h| h.kind.is_join())
        .flat_map(|handler| {
            let attach = match handler.kind {
                Kind::JoinMap => quote!(attach_join_map),
                _ => quote!(attach_join_value),
            };
            handler.lanes.iter().map(move |lane| {
                let lifecycle = call(paths, handler, quote!());
                let span = lane.span();
                let item = quote_spanned!(span=> &__agent.#lane);
                let attach = respan(attach.clone(), span);
                quote_spanned!(span=> #dispatch::#attach::<#agent, _, _>(#item, #lifecycle);)
            })
        })
        .collect();
    (!attaches.is_empty()).then(|| {
        quote! {
            fn attach(&self, __agent: &#agent) {
                #(#attaches)*
            }
        }
    })
}

/// Runs a handler.
fn run(paths: &Paths, call: TokenStream) -> TokenStream {
    let lifecycle = &paths.lifecycle;
    quote!(#lifecycle::HandlerRunner::run(__runner, #call))
}

/// `dispatch::borrow_as::<B, _>(value)` for a `&B` parameter, pointing at the user's `B`.
fn borrowed(paths: &Paths, ty: &syn::Type, value: TokenStream) -> TokenStream {
    let referent = match ty {
        syn::Type::Reference(reference) => &*reference.elem,
        other => other,
    };
    converted(paths, referent, quote!(borrow_as), value)
}

/// `dispatch::param_as::<P, _>(value)` for a parameter taken by value, pointing at the user's
/// `P` if it does not match.
fn owned(paths: &Paths, ty: &syn::Type, value: TokenStream) -> TokenStream {
    converted(paths, ty, quote!(param_as), value)
}

/// `dispatch::function::<ty, _>(value)`, with errors at the first token of the user's `ty`
/// (rustc reports an unmet bound of a function at the function's name, and a proc macro on
/// stable cannot give one token the span of a whole type).
fn converted(
    paths: &Paths,
    ty: &syn::Type,
    function: TokenStream,
    value: TokenStream,
) -> TokenStream {
    let first = first_span(ty);
    let function = respan(function, first);
    let dispatch = &paths.dispatch;
    quote_spanned!(first=> #dispatch::#function::<#ty, _>(#value))
}

fn lane_branch(paths: &Paths, lane: &LaneHandlers) -> TokenStream {
    let dispatch = &paths.dispatch;
    let agent = &paths.agent;
    let ident = lane.lane;
    let span = ident.span();
    let dispatch_call = match lane.category {
        Category::Value => {
            let on_event = lane.get(Kind::Event).map(|h| {
                let new = borrowed(paths, &h.params[0], quote!(__new));
                call(paths, h, quote!(, #new))
            });
            let on_set = lane.get(Kind::Set).map(|h| {
                let new = borrowed(paths, &h.params[0], quote!(__new));
                let previous = owned(paths, &h.params[1], quote!(__previous));
                call(paths, h, quote!(, #new, #previous))
            });
            let handlers = &paths.handlers;
            let body = match (on_event, on_set) {
                (Some(event), Some(set)) => {
                    quote!(<_ as #handlers::HandlerActionExt<#agent>>::followed_by(#event, #set))
                }
                (Some(only), None) | (None, Some(only)) => only,
                (None, None) => quote!(#dispatch::ignore()),
            };
            quote_spanned!(span=> #dispatch::value_event::<#agent, _, _, _>(__item, __runner, |__new, __previous| #body))
        }
        Category::Command => {
            let body = lane.get(Kind::Command).map_or_else(
                || quote!(#dispatch::ignore()),
                |h| {
                    let value = borrowed(paths, &h.params[0], quote!(__value));
                    call(paths, h, quote!(, #value))
                },
            );
            quote_spanned!(span=> #dispatch::command_event::<#agent, _, _, _>(__item, __runner, |__value| #body))
        }
        Category::Map => {
            let ignore = quote!(#dispatch::ignore());
            let update = lane.get(Kind::Update).map_or_else(
                || ignore.clone(),
                |h| {
                    let map = borrowed(paths, &h.params[0], quote!(__map));
                    let key = owned(paths, &h.params[1], quote!(__key));
                    let previous = owned(paths, &h.params[2], quote!(__previous));
                    let new = borrowed(paths, &h.params[3], quote!(__new));
                    call(paths, h, quote!(, #map, #key, #previous, #new))
                },
            );
            let remove = lane.get(Kind::Remove).map_or_else(
                || ignore.clone(),
                |h| {
                    let map = borrowed(paths, &h.params[0], quote!(__map));
                    let key = owned(paths, &h.params[1], quote!(__key));
                    let removed = owned(paths, &h.params[2], quote!(__removed));
                    call(paths, h, quote!(, #map, #key, #removed))
                },
            );
            let clear = lane.get(Kind::Clear).map_or_else(
                || ignore.clone(),
                |h| {
                    let before = owned(paths, &h.params[0], quote!(__before));
                    call(paths, h, quote!(, #before))
                },
            );
            quote_spanned!(span=> #dispatch::map_event::<#agent, _, _, _, _, _>(
                __item,
                __runner,
                |__map, __key, __previous, __new| #update,
                |__map, __key, __removed| #remove,
                |__before| #clear,
            ))
        }
        Category::Demand => {
            let on_cue = lane.get(Kind::Cue).map(|h| call(paths, h, quote!()));
            match on_cue {
                Some(on_cue) => {
                    quote_spanned!(span=> #dispatch::demand_event::<#agent, _, _, _>(__item, __runner, || #on_cue))
                }
                None => quote!(::core::result::Result::Ok(())),
            }
        }
        Category::Http => {
            let handled = [
                (Kind::Get, quote!(GET)),
                (Kind::Post, quote!(POST)),
                (Kind::Put, quote!(PUT)),
                (Kind::Delete, quote!(DELETE)),
            ]
            .into_iter()
            .filter(|(kind, _)| lane.get(*kind).is_some())
            .map(|(_, method)| quote!(#dispatch::methods::#method));
            let unhandled = quote!(#dispatch::unhandled());
            let handler = |kind: Kind| {
                lane.get(kind).map_or_else(
                    || unhandled.clone(),
                    |h| {
                        let request = owned(paths, &h.params[0], quote!(__request));
                        match h.params.get(1) {
                            Some(value) => {
                                let value = owned(paths, value, quote!(__value));
                                call(paths, h, quote!(, #request, #value))
                            }
                            None => call(paths, h, quote!(, #request)),
                        }
                    },
                )
            };
            let (get, post, put, delete) = (
                handler(Kind::Get),
                handler(Kind::Post),
                handler(Kind::Put),
                handler(Kind::Delete),
            );
            quote_spanned!(span=> #dispatch::http_event::<#agent, _, _, _, _, _, _>(
                __item,
                __runner,
                0 #(| #handled)*,
                |__request| #get,
                |__request, __value| #post,
                |__request, __value| #put,
                |__request| #delete,
            ))
        }
        Category::DemandMap => {
            let handlers = lane.get(Kind::Keys).zip(lane.get(Kind::CueKey));
            match handlers {
                Some((keys, cue_key)) => {
                    let keys_call = call(paths, keys, quote!());
                    let key = owned(paths, &cue_key.params[0], quote!(__key));
                    let cue_key_call = call(paths, cue_key, quote!(, #key));
                    quote_spanned!(span=> #dispatch::demand_map_event::<#agent, _, _, _, _>(
                        __item,
                        __runner,
                        || #keys_call,
                        |__key| #cue_key_call,
                    ))
                }
                // Reported by `check_demand_maps`.
                None => quote!(::core::result::Result::Ok(())),
            }
        }
    };
    let item = quote_spanned!(span=> &__agent.#ident);
    quote! {
        {
            let __item = #item;
            if __id == #dispatch::item_id(__item) {
                return #dispatch_call;
            }
        }
    }
}
